"""Free localhost ports for tests that start real worker processes (a TF cluster)."""

import socket


def free_ports(n):
    """`n` distinct TCP ports free on 127.0.0.1 at the time of the call."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
