// The per-service system-call allow-lists, in one table (docs/hardening.md explains each entry).
// Every service shares one base set (glibc, libstdc++, libzmq, Cap'n Proto, spdlog, libsodium's
// guarded allocations, Asio/epoll); what differs between services is which socket families
// socket()/socketpair() may create: wgd, ipnd and apid get AF_UNIX only, so none of them can ever
// hold an internet or netlink socket even if its code is subverted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"

namespace tnet::sandbox {

struct SeccompPolicy {
  std::string service;
  // Names as libseccomp spells them; names this architecture lacks are skipped at install time.
  std::vector<std::string> syscalls;
  // Address families socket() and socketpair() may use (AF_UNIX for everyone: the bus).
  std::vector<int> socketFamilies;
  // Families refused with EAFNOSUPPORT instead of killing: glibc probes them and falls back
  // (getaddrinfo's AI_ADDRCONFIG check opens AF_NETLINK), as under RestrictAddressFamilies=.
  std::vector<int> refusedSocketFamilies;
};

// The base set every service needs.
const std::vector<std::string>& baseSyscalls();

// The policy of a manifest service name (ipnd apid controld wgd magicsockd netstackd); an
// unknown name is an error, so a new service cannot start without a list of its own.
Result<SeccompPolicy> seccompPolicyFor(std::string_view service);

// Every service that has a policy, in the supervisor's start order.
const std::vector<std::string>& seccompServices();

}  // namespace tnet::sandbox
