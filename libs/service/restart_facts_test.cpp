// The restart facts a service reads from the supervisor's environment and puts into its health.
#include "libs/service/restart_facts.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include <map>

namespace tnet::service {
namespace {

RestartFacts parse(const std::map<std::string, std::string>& env) {
  return restartFactsFromEnvironment([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(RestartFacts, ReadsWhatTheSupervisorSets) {
  auto f = parse({{"TAILNETD_RESTARTS", "2"},
                  {"TAILNETD_LAST_EXIT", "signal 11 (Segmentation fault)"},
                  {"TAILNETD_LAST_EXIT_UNIX_MS", "1790000000123"}});
  EXPECT_EQ(f.restarts, 2u);
  EXPECT_EQ(f.lastExit, "signal 11 (Segmentation fault)");
  EXPECT_EQ(f.lastExitUnixMs, 1790000000123);
}

TEST(RestartFacts, FirstStartAndJunkGiveNothing) {
  EXPECT_EQ(parse({}).restarts, 0u);
  EXPECT_EQ(parse({{"TAILNETD_RESTARTS", "0"}, {"TAILNETD_LAST_EXIT", "exit 1"}}).restarts, 0u);
  EXPECT_EQ(parse({{"TAILNETD_RESTARTS", "2x"}, {"TAILNETD_LAST_EXIT", "exit 1"}}).restarts, 0u);
  EXPECT_EQ(parse({{"TAILNETD_RESTARTS", "-1"}, {"TAILNETD_LAST_EXIT", "exit 1"}}).restarts, 0u);
  EXPECT_EQ(parse({{"TAILNETD_RESTARTS", "1"}}).restarts, 0u);
  EXPECT_EQ(parse({{"TAILNETD_RESTARTS", "1"}, {"TAILNETD_LAST_EXIT", ""}}).restarts, 0u);
  EXPECT_EQ(parse({{"TAILNETD_RESTARTS", "1"}, {"TAILNETD_LAST_EXIT", "exit 1\n# forged line"}}).restarts, 0u);
  EXPECT_EQ(parse({{"TAILNETD_RESTARTS", "1"}, {"TAILNETD_LAST_EXIT", std::string(201, 'a')}}).restarts, 0u);
  // A bad time keeps the reason.
  auto f = parse({{"TAILNETD_RESTARTS", "1"}, {"TAILNETD_LAST_EXIT", "exit 1"}, {"TAILNETD_LAST_EXIT_UNIX_MS", "soon"}});
  EXPECT_EQ(f.restarts, 1u);
  EXPECT_EQ(f.lastExitUnixMs, 0);
}

TEST(RestartFacts, WrittenIntoTheHealthMessage) {
  capnp::MallocMessageBuilder msg;
  auto h = msg.initRoot<schema::Health>();
  writeRestartFacts({3, "signal 31 (Bad system call; killed by seccomp)", 1790000000999}, h);
  auto r = h.asReader();
  EXPECT_EQ(std::string(r.getLastExit().cStr()), "signal 31 (Bad system call; killed by seccomp)");
  EXPECT_EQ(r.getLastExitUnixMs(), 1790000000999);
  EXPECT_EQ(r.getRestarts(), 3u);

  capnp::MallocMessageBuilder first;
  auto h2 = first.initRoot<schema::Health>();
  writeRestartFacts({}, h2);
  EXPECT_FALSE(h2.asReader().hasLastExit());
  EXPECT_EQ(h2.asReader().getRestarts(), 0u);
}

}  // namespace
}  // namespace tnet::service
