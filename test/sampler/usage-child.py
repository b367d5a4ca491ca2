"""A process whose resource usage the sampler tests drive. Commands on stdin, one a line, each answered
with 'done' once carried out:
  burn MS        spend MS milliseconds of CPU in user space
  touch MB       allocate MB MiB and write to every page of it (minor faults, RSS), and keep it
  write KB DIR   write KB KiB to a new file in DIR and fsync it (write_bytes, dirtied page by page)
  threads N      start N threads that wait forever (without exiting: their counters stay with the process)
Prints 'ready' first. Single-threaded until told otherwise."""
import os
import sys
import threading

kept = []
forever = threading.Event()
print('ready', flush=True)
for line in sys.stdin:
    words = line.split()
    if words[0] == 'burn':
        # Reading a CPU clock is a system call, and on some kernels a costly one: asked on every turn it
        # spends most of the burn in the kernel (seen: 0.05 s user, 0.25 s system). Ask between runs of
        # pure user-space work, and count user time alone.
        deadline = os.times().user + int(words[1]) / 1000
        while os.times().user < deadline:
            for _ in range(100_000):
                pass
    elif words[0] == 'touch':
        memory = bytearray(int(words[1]) << 20)
        for at in range(0, len(memory), 4096):
            memory[at] = 1
        kept.append(memory)
    elif words[0] == 'write':
        path = os.path.join(words[2], 'written-%d' % len(kept))
        with open(path, 'wb') as file:
            file.write(b'\1' * (int(words[1]) << 10))
            file.flush()
            os.fsync(file.fileno())
        kept.append(path)
    elif words[0] == 'threads':
        for _ in range(int(words[1])):
            threading.Thread(target=forever.wait, daemon=True).start()
    print('done', flush=True)
