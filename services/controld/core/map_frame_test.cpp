#include "services/controld/core/map_frame.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include "services/controld/core/map_decode.h"
#include "services/controld/core/netmap.h"
#include "services/controld/core/zstd_frame.h"

namespace tnet::controld {
namespace {

Bytes frame(std::string_view payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  Bytes b(4 + payload.size());
  for (int i = 0; i < 4; ++i) b[i] = uint8_t(n >> (8 * i));
  std::copy(payload.begin(), payload.end(), b.begin() + 4);
  return b;
}

std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }

TEST(MapFrame, LittleEndianLengthAndByteByByteFeeding) {
  Bytes stream = frame("{\"KeepAlive\":true}");
  Bytes second = frame(std::string(300, 'x'));  // 300 = 0x012c: checks the byte order
  stream.insert(stream.end(), second.begin(), second.end());
  MapFrameReader r;
  std::vector<std::string> got;
  for (uint8_t b : stream) {
    ASSERT_TRUE(r.feed(ByteSpan(&b, 1)));
    while (auto f = r.next()) got.push_back(str(*f));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "{\"KeepAlive\":true}");
  EXPECT_EQ(got[1], std::string(300, 'x'));
  EXPECT_EQ(r.pending(), 0u);
}

TEST(MapFrame, SeveralFramesInOneRead) {
  Bytes stream;
  for (int i = 0; i < 3; ++i) {
    Bytes f = frame("frame" + std::to_string(i));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  stream.push_back(5);  // start of a fourth header
  MapFrameReader r;
  ASSERT_TRUE(r.feed(stream));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(str(*r.next()), "frame" + std::to_string(i));
  EXPECT_FALSE(r.next());
  EXPECT_EQ(r.pending(), 1u);
}

TEST(MapFrame, HugeFrameRejectedFromHeaderBeforeBuffering) {
  MapFrameReader r;
  const uint32_t n = 100u << 20;  // 100 MiB
  Bytes header = {uint8_t(n), uint8_t(n >> 8), uint8_t(n >> 16), uint8_t(n >> 24)};
  auto res = r.feed(header);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().kind, ErrorKind::INVALID);
  EXPECT_EQ(res.error().message, "map frame of 104857600 bytes exceeds the limit of 67108864 bytes");
  EXPECT_EQ(r.pending(), 4u) << "nothing of the payload was buffered";
  uint8_t more = 0;
  EXPECT_FALSE(r.feed(ByteSpan(&more, 1))) << "the reader stays failed";
}

TEST(MapFrame, ZeroLengthAndCustomLimit) {
  MapFrameReader r;
  EXPECT_FALSE(r.feed(Bytes{0, 0, 0, 0}));
  MapFrameReader small(10);
  EXPECT_TRUE(small.feed(frame("0123456789")));
  EXPECT_FALSE(small.feed(frame("0123456789a")));
}

TEST(ZstdFrame, RoundTripAndLimits) {
  std::string json = "{\"Domain\":\"example.com\",\"Peers\":[" + std::string(5000, ' ') + "]}";
  Bytes comp(ZSTD_compressBound(json.size()));
  size_t n = ZSTD_compress(comp.data(), comp.size(), json.data(), json.size(), 1);
  ASSERT_FALSE(ZSTD_isError(n));
  comp.resize(n);
  auto out = zstdDecompressFrame(comp, 1 << 20);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, json);
  auto tooBig = zstdDecompressFrame(comp, 100);
  ASSERT_FALSE(tooBig);
  EXPECT_NE(tooBig.error().message.find("limit"), std::string::npos);
  Bytes trailing = comp;
  trailing.push_back(0);
  EXPECT_FALSE(zstdDecompressFrame(trailing, 1 << 20));
  Bytes truncated(comp.begin(), comp.end() - 3);
  EXPECT_FALSE(zstdDecompressFrame(truncated, 1 << 20));
  EXPECT_FALSE(zstdDecompressFrame(Bytes{'{', '}'}, 1 << 20));
}

// The whole receive path the app runs with Compress:"zstd": frames split across reads, each
// payload one zstd frame, decompressed, decoded and folded into the session.
TEST(MapFrame, CompressedStreamEndToEnd) {
  const std::string first = R"({"Node":{"ID":1,"Key":"nodekey:)" + std::string(64, 'a') +
                            R"(","Addresses":["100.64.0.1/32"]},"Peers":[{"ID":2,"Addresses":["100.64.0.2/32"]}]})";
  const std::string second = R"({"PeersRemoved":[2]})";
  Bytes stream;
  for (const std::string* json : {&first, &second}) {
    Bytes comp(ZSTD_compressBound(json->size()));
    size_t n = ZSTD_compress(comp.data(), comp.size(), json->data(), json->size(), 3);
    ASSERT_FALSE(ZSTD_isError(n));
    Bytes f = frame(std::string_view(reinterpret_cast<const char*>(comp.data()), n));
    stream.insert(stream.end(), f.begin(), f.end());
  }
  MapFrameReader reader;
  MapSession session;
  for (size_t off = 0; off < stream.size(); off += 7) {
    ASSERT_TRUE(reader.feed(ByteSpan(stream).subspan(off, std::min<size_t>(7, stream.size() - off))));
    while (auto payload = reader.next()) {
      auto json = zstdDecompressFrame(*payload, DEFAULT_MAX_MAP_FRAME);
      ASSERT_TRUE(json) << json.error().message;
      auto resp = decodeMapResponse(*json);
      ASSERT_TRUE(resp) << resp.error().message;
      ASSERT_TRUE(session.apply(std::move(*resp), 0));
    }
  }
  ASSERT_NE(session.netmap(), nullptr);
  EXPECT_EQ(session.netmap()->generation, 2u);
  EXPECT_TRUE(session.netmap()->peers.empty());
}

}  // namespace
}  // namespace tnet::controld
