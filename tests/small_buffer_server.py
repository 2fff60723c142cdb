"""The app served by uvicorn in a process of its own, on a socket whose send buffer is small
and fixed: ``python -m tests.small_buffer_server PORT``.

A test that kills the server midway through a response needs the response to be still in the
server when it dies. Linux grows a socket's send buffer on its own (up to ``tcp_wmem``'s 4 MB),
and the kernel delivers what that buffer holds even after the process is killed, so a response
of a few hundred kilobytes can reach the client whole. Setting ``SO_SNDBUF`` on the listening
socket fixes the buffer of every connection it accepts at a few kilobytes; the rest of the
response waits in uvicorn (which stops the app once 64 KB are queued) and dies with it.
"""

import socket
import sys

import uvicorn

SEND_BUFFER_BYTES = 4096


def serve(port: int) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config("app:create_app", factory=True, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    serve(int(sys.argv[1]))
