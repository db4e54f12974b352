"""``lwd console``: the PyQt6 operator console (camera wall, attention queue, takeover, review,
learning). Widgets render ``lwd_operator.fleet_view``; every action is a ``HubClient`` call."""
