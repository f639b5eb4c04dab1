"""Forge's process launcher: starts a runner agent's task processes so that the agent never forks.

The agent (workers/executor/launcher.ts) starts this once, with a Node IPC channel (JSON lines on
the socket named by NODE_CHANNEL_FD). Node's child_process.spawn forks the agent, a process of
100 MB and more: the fork copies its page tables and every page the agent writes afterwards is
copied on its first write. subprocess here uses vfork, which copies nothing, from a process of a
few MB. Each process's stdout and stderr are one socket pair, as a terminal shares one device
between them, so the task's log keeps the order in which it wrote; its agent end goes to the agent
over the channel unread (as Node sends a socket: a NODE_HANDLE message with the descriptor
attached), so no output passes through here.

Agent -> launcher: {"t": "launch", "id", "command", "args", "cwd", "env", "uid"?, "gid"?, "infoFd"}
Launcher -> agent, per launch in this order: "started" (or "failed"), "output" (stdout and stderr,
with the socket), "info" (bwrap's --info-fd said its init's pid), "exit". First of all: "hello".
Only the standard library; Python 3.9 or later (os.pidfd_open), Linux 5.3 or later.
"""
import array
import errno
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys

# bwrap reports its sandbox's init pid on this descriptor of its own (bwrapArgs' --info-fd).
INFO_FD = 3
CHILD_PID = re.compile(rb'"child-pid":\s*(\d+)')


class Launcher:
    def __init__(self, channel_fd):
        # Descriptor 3 is the channel when Node starts us; move it away so that 3 can be given to bwrap.
        moved = os.dup(channel_fd)
        self.devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(self.devnull, INFO_FD, inheritable=False)  # holds 3 between launches
        if channel_fd != INFO_FD:
            os.close(channel_fd)
        self.channel = socket.socket(fileno=moved)
        self.channel.setblocking(True)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.channel, selectors.EVENT_READ, self.read_channel)
        self.pending = b''
        self.is_root = os.geteuid() == 0

    def send(self, message, fd=None):
        if fd is None:
            self.channel.sendall(json.dumps(message).encode() + b'\n')
            return
        data = json.dumps({'cmd': 'NODE_HANDLE', 'type': 'net.Socket', 'msg': message}).encode() + b'\n'
        # The descriptor rides on the message's first byte; the rest follows as plain data.
        sent = self.channel.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
        if sent < len(data):
            self.channel.sendall(data[sent:])

    def read_channel(self, _fd):
        chunk = self.channel.recv(65536)
        if not chunk:
            sys.exit(0)  # the agent is gone; its task processes live on in their groups, which it ends when it starts again
        lines = (self.pending + chunk).split(b'\n')
        self.pending = lines.pop()
        for line in lines:
            message = json.loads(line)
            if message.get('t') == 'launch':
                self.launch(message)
            # Node's own messages (NODE_HANDLE_ACK for each socket sent) need no answer.

    def launch(self, request):
        launch_id = request['id']
        ours, theirs = socket.socketpair()
        info = os.pipe() if request.get('infoFd') else None
        try:
            if info:
                os.dup2(info[1], INFO_FD, inheritable=True)
            uid, gid = request.get('uid'), request.get('gid')
            child = subprocess.Popen(
                [request['command'], *request['args']],
                cwd=request['cwd'], env=request['env'], start_new_session=True,
                stdin=self.devnull, stdout=theirs.fileno(), stderr=theirs.fileno(),
                pass_fds=(INFO_FD,) if info else (),
                user=uid, group=gid, extra_groups=[] if (uid is not None or gid is not None) and self.is_root else None,
            )
        except (OSError, TypeError, ValueError, KeyError) as err:
            # No process: every descriptor made for it goes (bwrap's info pipe too).
            ours.close()
            theirs.close()
            if info:
                os.close(info[0])
            if isinstance(err, OSError):
                code = errno.errorcode.get(err.errno or 0)
                self.send({'t': 'failed', 'id': launch_id, 'message': f"spawn {request['command']} {code or err.strerror}", 'code': code})
            else:  # a request this launcher cannot carry out
                self.send({'t': 'failed', 'id': launch_id, 'message': f'the process launcher refused the request: {err}'})
            return
        finally:
            if info:
                os.dup2(self.devnull, INFO_FD, inheritable=False)
                os.close(info[1])
        self.send({'t': 'started', 'id': launch_id, 'pid': child.pid})
        theirs.close()
        self.send({'t': 'output', 'id': launch_id}, ours.fileno())
        ours.close()
        exited = os.pidfd_open(child.pid)
        self.selector.register(exited, selectors.EVENT_READ, lambda fd: self.reap(fd, launch_id, child))
        if info:
            os.set_blocking(info[0], False)
            self.selector.register(info[0], selectors.EVENT_READ, self.info_reader(launch_id))

    def info_reader(self, launch_id):
        """Reads bwrap's info to its end: a pipe closed early would kill bwrap (SIGPIPE) on its next write."""
        text = b''

        def read(fd):
            nonlocal text
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return
            if not chunk:
                self.selector.unregister(fd)
                os.close(fd)
                return
            if text is None:
                return
            text += chunk
            match = CHILD_PID.search(text)
            if match:
                text = None
                self.send({'t': 'info', 'id': launch_id, 'pid': int(match.group(1))})
        return read

    def reap(self, fd, launch_id, child):
        self.selector.unregister(fd)
        os.close(fd)
        code = child.wait()
        if code < 0:
            self.send({'t': 'exit', 'id': launch_id, 'code': None, 'signal': signal.Signals(-code).name})
        else:
            self.send({'t': 'exit', 'id': launch_id, 'code': code, 'signal': None})

    def serve(self):
        self.send({'t': 'hello', 'pid': os.getpid()})
        while True:
            for key, _ in self.selector.select():
                key.data(key.fd)


def main():
    if sys.version_info < (3, 9) or not hasattr(os, 'pidfd_open'):
        sys.exit(3)  # the agent starts its processes itself then
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        sys.exit(3)  # a kernel before 5.3
    channel = os.environ.get('NODE_CHANNEL_FD')
    if channel is None:
        sys.exit('launcher.py is started by a Forge runner agent, with a Node IPC channel')
    Launcher(int(channel)).serve()


if __name__ == '__main__':
    main()
