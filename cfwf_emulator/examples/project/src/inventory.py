"""A helper module next to entry.py, imported the way Python Workers import siblings."""


def reservation_sql():
    # Steps may run more than once (a retry after a crash), so the write must be idempotent.
    return (
        "INSERT INTO reservations (order_id, sku, quantity) VALUES (?, ?, ?) "
        "ON CONFLICT(order_id) DO NOTHING"
    )
