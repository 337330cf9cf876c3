"""A TCP proxy on loopback that a test puts between our programs and Redis, to do to their
existing connections what a network or a failover does: forward new connections to another
server (an address that moved to a promoted replica), or freeze the connections already open
(packets dropped: nothing is read or written any more, nothing is closed) while new ones pass."""
import select
import socket
import threading


class TcpProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.pairs = []       # [client socket, upstream socket, frozen flag list]
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                port = self.upstream_port
            try:
                up = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                client.close()
                continue
            state = {"frozen": False}
            with self.lock:
                self.pairs.append((client, up, state))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, up, state), daemon=True).start()

    def _pump(self, a, b, state):
        try:
            while not self.closed:
                if state["frozen"]:
                    threading.Event().wait(0.05)
                    continue
                r, _, _ = select.select([a, b], [], [], 0.05)
                if state["frozen"]:
                    continue  # what was readable stays unread: dropped as far as peers know
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            if not state["frozen"] or self.closed:
                for s in (a, b):
                    try:
                        s.close()
                    except OSError:
                        pass

    def switch(self, upstream_port):
        """New connections go to upstream_port; existing ones stay where they are."""
        with self.lock:
            self.upstream_port = upstream_port

    def freeze_existing(self):
        """Stop forwarding on every connection open now, in both directions, without closing."""
        with self.lock:
            for _, _, state in self.pairs:
                state["frozen"] = True
            return sum(1 for _ in self.pairs)

    def close(self):
        self.closed = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            for a, b, _ in self.pairs:
                for s in (a, b):
                    try:
                        s.close()
                    except OSError:
                        pass
