# Installed by the releases role as {env}/etc/ipython/ipython_kernel_config.py for each Python environment
# of a release (IPython reads it when a kernel of that environment starts, before the kernel opens a socket).
#
# A session's kernels talk to their server over Unix sockets (KernelManager.transport = "ipc"). ipykernel
# opens one more socket of its own, whatever the transport: the pipe through which the output of forked
# subprocesses (multiprocessing) reaches the notebook, a ZeroMQ PULL socket bound to a random loopback TCP
# port, which anyone on the node may connect to. Here it is bound to a Unix socket in the session's private
# runtime directory instead, when there is one (JUPYTER_RUNTIME_DIR, mode 0700, this user's).
c = get_config()  # noqa: F821


def _pipe_on_a_unix_socket():
    import os
    import stat

    runtime = os.environ.get("JUPYTER_RUNTIME_DIR", "")
    try:
        st = os.stat(runtime)
    except OSError:
        return
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        return  # not a private directory: leave ipykernel as it is
    try:
        import zmq
        from ipykernel import iostream
        from zmq.eventloop.zmqstream import ZMQStream
    except ImportError:
        return
    thread = iostream.IOPubThread
    if not (hasattr(thread, "_setup_pipe_in") and hasattr(thread, "_setup_pipe_out")):
        return

    def _setup_pipe_in(self):
        self._pipe_uuid = os.urandom(16)
        pipe_in = self.socket.context.socket(zmq.PULL)
        pipe_in.linger = 0
        self._pipe_address = f"ipc://{runtime}/kernel-pipe-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            pipe_in.bind(self._pipe_address)
        except zmq.ZMQError:
            self._pipe_flag = False  # as ipykernel does when it cannot bind: no subprocess output
            pipe_in.close()
            return
        self._pipe_in = ZMQStream(pipe_in, self.io_loop)
        self._pipe_in.on_recv(self._handle_pipe_msg)

    def _setup_pipe_out(self):
        ctx = zmq.Context()  # a new context after the fork
        pipe_out = ctx.socket(zmq.PUSH)
        pipe_out.linger = 3000
        pipe_out.connect(self._pipe_address)
        return ctx, pipe_out

    thread._setup_pipe_in = _setup_pipe_in
    thread._setup_pipe_out = _setup_pipe_out


_pipe_on_a_unix_socket()
