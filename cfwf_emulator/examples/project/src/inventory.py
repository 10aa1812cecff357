"""A helper module next to entry.py, imported the way Python Workers import siblings."""


def reservation_sql():
    return "INSERT INTO reservations (order_id, sku, quantity) VALUES (?, ?, ?)"
