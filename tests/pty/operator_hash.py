"""Types a password into `cc112 operator-hash budi` at a real terminal (a pty), after
its prompt, as a person would, and prints everything the terminal showed. Used by
tests/it/cli.rs: the password must not be among it.

    python3 tests/pty/operator_hash.py PATH_TO_CC112 PASSWORD
"""
import os, pty, sys, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "operator-hash", "budi"])
out = b""
def read_until(pred, limit=10.0):
    global out
    import time
    end = time.time() + limit
    while not pred(out) and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
read_until(lambda o: b"password for" in o)
# Type once the program reads the password: when it has turned the echo off (a program
# that never does gets the password after 3 s, echoed). Typing at the first sight of
# the prompt would race the program, which disables the echo just after writing it.
import termios, time
deadline = time.time() + 3.0
while time.time() < deadline and termios.tcgetattr(fd)[3] & termios.ECHO:
    time.sleep(0.01)
os.write(fd, sys.argv[2].encode() + b"\n")
read_until(lambda o: b"ha1_sha256" in o)
# Whatever happened, the child does not outlive the test.
done, _ = os.waitpid(pid, os.WNOHANG)
if done == 0:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
