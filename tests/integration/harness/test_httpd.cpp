// tnet-test-httpd: the page a tailnet test fetches through the tunnel. Runs wherever the test
// starts it (usually inside a node's network namespace, on its loopback, as Go's userspace mode
// forwards inbound tailnet connections to 127.0.0.1):
//   GET  /            "hello from <--name>\n"
//   GET  /bytes/<n>   n bytes of a fixed pattern (byte i is (i * 7 + i / 251) & 0xff)
//   POST /sha256      the hex SHA-256 of the request body (bodies up to 1 GiB, streamed)
// One thread per connection, HTTP/1.1 with Content-Length only, Connection: close.
// With --udp-echo PORT it also answers every UDP datagram to the same host and PORT (0 = any
// free port) with "<--name>: " + the datagram, so a test can tell whose echo answered; the port
// file is then JSON, {"port":<tcp>,"udpPort":<udp>} (harness Fixture: port() and info()).
// tnet-test-udp is the client that reaches it through a node's SOCKS5 proxy.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace {

bool sendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void respond(int fd, int status, const std::string& body) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
                     "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n";
  if (sendAll(fd, head.data(), head.size())) sendAll(fd, body.data(), body.size());
}

void pattern(char* out, size_t n, uint64_t offset) {
  for (size_t i = 0; i < n; ++i) {
    uint64_t k = offset + i;
    out[i] = static_cast<char>((k * 7 + k / 251) & 0xff);
  }
}

void serve(int fd, std::string name) {
  std::string buf;
  char tmp[65536];
  size_t headerEnd;
  while ((headerEnd = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0 || buf.size() > 65536) {
      close(fd);
      return;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string head = buf.substr(0, headerEnd);
  std::string rest = buf.substr(headerEnd + 4);
  std::string method = head.substr(0, head.find(' '));
  size_t pathStart = head.find(' ') + 1;
  std::string target = head.substr(pathStart, head.find(' ', pathStart) - pathStart);
  // Proxies may send absolute URIs.
  if (target.rfind("http://", 0) == 0) {
    auto slash = target.find('/', 7);
    target = slash == std::string::npos ? "/" : target.substr(slash);
  }
  if (method == "GET" && target == "/") {
    respond(fd, 200, "hello from " + name + "\n");
  } else if (method == "GET" && target.rfind("/bytes/", 0) == 0) {
    uint64_t n = std::strtoull(target.c_str() + 7, nullptr, 10);
    std::string h =
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(n) +
        "\r\nConnection: close\r\n\r\n";
    bool ok = sendAll(fd, h.data(), h.size());
    for (uint64_t off = 0; ok && off < n;) {
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(sizeof(tmp), n - off));
      pattern(tmp, chunk, off);
      ok = sendAll(fd, tmp, chunk);
      off += chunk;
    }
  } else if (method == "POST" && target == "/sha256") {
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto cl = lower.find("\r\ncontent-length:");
    if (cl == std::string::npos) {
      respond(fd, 411, "length required\n");
    } else {
      uint64_t want = std::strtoull(lower.c_str() + cl + 17, nullptr, 10);
      crypto_hash_sha256_state st;
      crypto_hash_sha256_init(&st);
      uint64_t got = std::min<uint64_t>(rest.size(), want);
      crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(rest.data()), got);
      while (got < want) {
        ssize_t n = recv(fd, tmp, static_cast<size_t>(std::min<uint64_t>(sizeof(tmp), want - got)), 0);
        if (n <= 0) break;
        crypto_hash_sha256_update(&st, reinterpret_cast<unsigned char*>(tmp), static_cast<size_t>(n));
        got += static_cast<uint64_t>(n);
      }
      unsigned char digest[crypto_hash_sha256_BYTES];
      crypto_hash_sha256_final(&st, digest);
      char hex[2 * crypto_hash_sha256_BYTES + 1];
      sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
      if (got == want) respond(fd, 200, std::string(hex) + "\n");
    }
  } else {
    respond(fd, 404, "not found\n");
  }
  close(fd);
}

void udpEcho(int fd, std::string name) {
  char in[65536];
  for (;;) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, in, sizeof in, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) continue;
    std::string reply = name + ": " + std::string(in, static_cast<size_t>(n));
    sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", portFile, name = "tnet-test-httpd";
  int udpPort = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--listen")
      listen = argv[i + 1];
    else if (k == "--port-file")
      portFile = argv[i + 1];
    else if (k == "--name")
      name = argv[i + 1];
    else if (k == "--udp-echo")
      udpPort = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--listen IP:PORT] [--port-file F] [--name N] [--udp-echo PORT]\n",
                   argv[0]);
      return 2;
    }
  }
  if (sodium_init() < 0) return 1;
  signal(SIGPIPE, SIG_IGN);
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "bad --listen %s\n", listen.c_str());
    return 2;
  }
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(ls, 256) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof(a);
  getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
  int tcpPort = ntohs(a.sin_port);
  if (udpPort > 65535) {
    std::fprintf(stderr, "bad --udp-echo %d\n", udpPort);
    return 2;
  }
  if (udpPort >= 0) {
    int us = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in u = a;
    u.sin_port = htons(static_cast<uint16_t>(udpPort));
    if (us < 0 || bind(us, reinterpret_cast<sockaddr*>(&u), sizeof(u)) != 0) {
      std::perror("udp bind");
      return 1;
    }
    len = sizeof(u);
    getsockname(us, reinterpret_cast<sockaddr*>(&u), &len);
    udpPort = ntohs(u.sin_port);
    std::thread(udpEcho, us, name).detach();
  }
  if (!portFile.empty()) {
    // Written to a temporary name and renamed: the reader never sees half a file.
    std::string tmpFile = portFile + ".tmp";
    {
      std::ofstream out(tmpFile);
      if (udpPort >= 0) {
        out << "{\"port\":" << tcpPort << ",\"udpPort\":" << udpPort << "}\n";
      } else {
        out << tcpPort << "\n";
      }
    }
    std::rename(tmpFile.c_str(), portFile.c_str());
  }
  std::printf("tnet-test-httpd: listening on %s:%d", host.c_str(), tcpPort);
  if (udpPort >= 0) std::printf(", udp echo on %s:%d", host.c_str(), udpPort);
  std::printf("\n");
  std::fflush(stdout);
  for (;;) {
    int fd = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread(serve, fd, name).detach();
  }
}
