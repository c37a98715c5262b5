#include "services/apid/core/notify_filter.h"

#include <gtest/gtest.h>

#include <array>

#include "services/apid/core/watch_mask.h"

namespace tnet::apid {
namespace {

constexpr std::string_view EVENT =
    R"({"Version":"1.0","ErrMessage":null,"State":6,"PeersChanged":[{"ID":1}],)"
    R"("PeersRemoved":[2],"PeerChangedPatch":[{"NodeID":3}],"UserProfiles":{"1":{}},)"
    R"("PeerState":{"n1":{"PeerWireGuardState":"established"}},"Engine":null})";

TEST(NotifyFilter, UnchangedBytesWhenNothingToRemove) {
  std::string_view plain = R"({"Version":"1.0", "State" : 2,"Prefs":{"A":[1,{"PeersChanged":1}]}})";
  std::array<std::string_view, 1> names{"PeersChanged"};
  EXPECT_EQ(*removeTopLevelFields(plain, names), plain);  // nested keys are not top-level
}

TEST(NotifyFilter, RemovesTopLevelMembersExactly) {
  std::array<std::string_view, 2> names{"State", "Engine"};
  EXPECT_EQ(*removeTopLevelFields(R"({"State":6,"Version":"x","Engine":{"a":[1]}})", names),
            R"({"Version":"x"})");
  EXPECT_EQ(*removeTopLevelFields(R"({"State":6})", names), "{}");
  EXPECT_EQ(*removeTopLevelFields(R"({ "Version" : "a,}" , "State" : 1 })", names), R"({"Version" : "a,}"})");
  EXPECT_EQ(*removeTopLevelFields("{}", names), "{}");
}

TEST(NotifyFilter, RejectsNonObjects) {
  std::array<std::string_view, 1> names{"x"};
  EXPECT_FALSE(removeTopLevelFields("[1]", names));
  EXPECT_FALSE(removeTopLevelFields("{\"a\":1", names));
  EXPECT_FALSE(removeTopLevelFields("{\"a\":1} x", names));
  EXPECT_FALSE(removeTopLevelFields("", names));
}

TEST(NotifyFilter, MaskZeroSeesNoPeerDeltas) {
  EXPECT_EQ(*notifyForMask(EVENT, 0), R"({"Version":"1.0","ErrMessage":null,"State":6,"Engine":null})");
}

TEST(NotifyFilter, PeerChangesWithoutPatches) {
  EXPECT_EQ(*notifyForMask(EVENT, NOTIFY_PEER_CHANGES),
            R"({"Version":"1.0","ErrMessage":null,"State":6,"PeersChanged":[{"ID":1}],)"
            R"("PeersRemoved":[2],"UserProfiles":{"1":{}},"Engine":null})");
}

TEST(NotifyFilter, PatchesAndWireGuardState) {
  EXPECT_EQ(*notifyForMask(EVENT, NOTIFY_PEER_PATCHES | NOTIFY_PEER_WIREGUARD_STATE), EVENT);
  EXPECT_EQ(*notifyForMask(EVENT, NOTIFY_PEER_WIREGUARD_STATE),
            R"({"Version":"1.0","ErrMessage":null,"State":6,)"
            R"("PeerState":{"n1":{"PeerWireGuardState":"established"}},"Engine":null})");
}

TEST(NotifyFilter, GoJsonStringEscaping) {
  EXPECT_EQ(goJsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(goJsonString("<&>"), R"("\u003c\u0026\u003e")");
  EXPECT_EQ(goJsonString("\n\t\x01"), R"("\n\t\u0001")");
  EXPECT_EQ(goJsonString("\xe2\x80\xa8"), R"("\u2028")");
  EXPECT_EQ(goJsonString("\xff"), R"("\ufffd")");
  EXPECT_EQ(goJsonString("h\xc3\xa9"), "\"h\xc3\xa9\"");
}

TEST(NotifyFilter, FellBehindNotifyShape) {
  EXPECT_EQ(errorNotifyJson("0.1.0", FELL_BEHIND_MESSAGE),
            R"({"Version":"0.1.0","ErrMessage":"IPN bus consumer fell behind; closing watch",)"
            R"("LoginFinished":null,"State":null,"Prefs":null,"NetMap":null,"Engine":null,)"
            R"("BrowseToURL":null,"DriveShares":null})");
}

}  // namespace
}  // namespace tnet::apid
