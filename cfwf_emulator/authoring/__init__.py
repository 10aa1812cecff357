"""What workflow authors use: the entrypoint base class, the event and the ``step`` API."""
