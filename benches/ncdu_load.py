#!/usr/bin/env python3
# ncdu's own time to load an export for browsing (the README's ncdu import
# figure): spawns `ncdu -f FILE` in a pseudo-terminal, waits until its browser
# shows "Total disk usage" (the load is complete), reads its peak RSS and CPU
# time from /proc, and quits it with `q`. Usage: benches/ncdu_load.py FILE
# (a valid export: ncdu reports a broken one in its own screen, not seen here).
import os, pty, sys, time, select
f = sys.argv[1]
t0 = time.monotonic()
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execvp("ncdu", ["ncdu", "-f", f])
buf = b""
t1 = None
while True:
    r, _, _ = select.select([fd], [], [], 60)
    if not r:
        print("timeout", file=sys.stderr); break
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    buf += chunk
    # The browser's status line, drawn once the file is loaded ("No items
    # to display" shows while it still loads).
    if b"Total disk usage" in buf:
        t1 = time.monotonic()
        break
if t1 is None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.exit("ncdu ended without showing its browser: " + buf[-300:].decode(errors="replace"))
hwm = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].split()[1]
st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
os.write(fd, b"q")
_, status = os.waitpid(pid, 0)
print(f"ncdu load {t1 - t0:.3f} s wall, {cpu:.2f} s CPU, peak RSS {hwm} kB, exit {os.waitstatus_to_exitcode(status)}")
