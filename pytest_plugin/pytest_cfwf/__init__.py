"""pytest plugin for cfwf-emulator (registered through the ``pytest11`` entry point ``cfwf``)."""
