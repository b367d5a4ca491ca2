"""A stand-in for a VMM's network side: attaches to a tap through /dev/net/tun, as solo5-hvt and bhyve do,
writes the Ethernet frames it is told to (traffic from the VM: the host's receive side of the tap), and
counts the frames the host sends it. Commands on stdin, one a line: 'send N SIZE', 'count'."""
import fcntl
import os
import struct
import sys
import threading

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', sys.argv[1].encode(), IFF_TAP | IFF_NO_PI))
received = 0


def read_forever():
    global received
    while True:
        os.read(fd, 65536)
        received += 1


threading.Thread(target=read_forever, daemon=True).start()
print('ready', flush=True)
for line in sys.stdin:
    words = line.split()
    if words[0] == 'send':
        count, size = int(words[1]), int(words[2])
        # Broadcast destination, a locally administered source, the local experimental EtherType.
        frame = b'\xff' * 6 + b'\x02\x00\x00\x00\x00\x01' + b'\x88\xb5' + bytes(size - 14)
        for _ in range(count):
            os.write(fd, frame)
        print('sent', count, flush=True)
    elif words[0] == 'count':
        print('received', received, flush=True)
