#include "services/magicsockd/app/udp_socket.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include "services/magicsockd/app/derp_client.h"

namespace tnet::magicsockd {
namespace {

bool waitReadable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 2000) == 1;
}

TEST(UdpSocket, TakenPortFallsBackToAnEphemeralOne) {
  UdpSocket first;
  ASSERT_TRUE(first.open(Family::V4, 0, /*loopbackOnly=*/false));
  ASSERT_NE(first.port(), 0);
  UdpSocket second;
  ASSERT_TRUE(second.open(Family::V4, first.port()));
  EXPECT_NE(second.port(), first.port());
  EXPECT_NE(second.port(), 0);
}

TEST(UdpSocket, BatchedSendAndReceiveKeepEveryDatagramAndItsSource) {
  UdpSocket a, b;
  ASSERT_TRUE(a.open(Family::V4, 0, true));
  ASSERT_TRUE(b.open(Family::V4, 0, true));
  auto to = wire::IpPort::v4(127, 0, 0, 1, b.port());
  for (uint8_t i = 0; i < 100; ++i) a.queue(to, Bytes(100 + i, i));
  a.flush();
  EXPECT_EQ(a.stats().txPackets, 100u);
  EXPECT_LE(a.stats().txBatches, 3u);  // 64 per sendmmsg
  std::vector<Bytes> got;
  while (got.size() < 100 && waitReadable(b.fd())) {
    b.receiveBatch([&](const wire::IpPort& from, ByteSpan d) {
      EXPECT_EQ(from.toString(), "127.0.0.1:" + std::to_string(a.port()));
      got.emplace_back(d.begin(), d.end());
    });
  }
  ASSERT_EQ(got.size(), 100u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], Bytes(100 + i, uint8_t(i)));
  EXPECT_LT(b.stats().rxBatches, 100u);
}

TEST(UdpSocket, OversizedDatagramIsDroppedNotTruncated) {
  UdpSocket b;
  ASSERT_TRUE(b.open(Family::V4, 0, true));
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(b.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Bytes big(UdpSocket::SLOT_BYTES + 100, 7);
  sendto(fd, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  Bytes small(10, 1);
  sendto(fd, small.data(), small.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  close(fd);
  std::vector<size_t> sizes;
  while (sizes.empty() && waitReadable(b.fd())) {
    b.receiveBatch([&](const wire::IpPort&, ByteSpan d) { sizes.push_back(d.size()); });
  }
  EXPECT_EQ(sizes, std::vector<size_t>{10});
  EXPECT_EQ(b.stats().rxTruncated, 1u);
}

TEST(UdpSocket, WrongFamilyTargetsAreCountedNotSent) {
  UdpSocket a;
  ASSERT_TRUE(a.open(Family::V4, 0, true));
  std::array<uint8_t, 16> v6{};
  v6[15] = 1;
  a.sendNow(wire::IpPort::v6(v6, 9), Bytes{1});
  EXPECT_EQ(a.stats().txErrors, 1u);
  EXPECT_EQ(a.stats().txPackets, 0u);
}

TEST(DerpCertPin, Sha256RawPinMatchesOnlyTheExactCertificate) {
  std::string der = "abc";  // any bytes: the pin is over the raw DER
  ByteSpan d(reinterpret_cast<const uint8_t*>(der.data()), der.size());
  EXPECT_TRUE(
      certMatchesPin(d, "sha256-raw:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_TRUE(
      certMatchesPin(d, "sha256-raw:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(
      certMatchesPin(d, "sha256-raw:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae"));
  EXPECT_FALSE(certMatchesPin(d, "sha256-raw:ba78"));
  EXPECT_FALSE(certMatchesPin(d, "derp.example.com"));
  EXPECT_FALSE(certMatchesPin(d, "sha256-raw:zz"));
}

}  // namespace
}  // namespace tnet::magicsockd
