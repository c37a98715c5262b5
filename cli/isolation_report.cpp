#include "cli/isolation_report.h"

#include <cctype>
#include <cstdio>

#include "cli/tab_writer.h"

namespace tnet::cli {
namespace {

using Json = nlohmann::json;

std::string lowerCase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Go's encoding/json matches object keys case-insensitively; do the same so "Uid", "uid" and
// "UID" all read.
const Json* field(const Json& j, const std::string& name) {
  if (!j.is_object()) return nullptr;
  std::string want = lowerCase(name);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (lowerCase(it.key()) == want) return &*it;
  }
  return nullptr;
}

std::string text(const Json& j, const std::string& name) {
  const Json* f = field(j, name);
  return f && f->is_string() ? f->get<std::string>() : std::string();
}

std::optional<uint64_t> number(const Json& j, const std::string& name) {
  const Json* f = field(j, name);
  if (!f) return std::nullopt;
  if (f->is_number_unsigned()) return f->get<uint64_t>();
  if (f->is_number_integer() && f->get<int64_t>() >= 0) return static_cast<uint64_t>(f->get<int64_t>());
  if (f->is_string()) {
    std::string s = f->get<std::string>();
    if (s.rfind("0x", 0) == 0) s = s.substr(2);
    if (s.empty() || s.size() > 16) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
      int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
              : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                          : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + static_cast<uint64_t>(d);
    }
    return v;
  }
  return std::nullopt;
}

Result<ServiceIsolation> parseService(const Json& j, std::string name) {
  if (!j.is_object()) return Error::invalid("isolation report: a service entry is not an object");
  ServiceIsolation s;
  s.name = name.empty() ? text(j, "Name") : std::move(name);
  if (s.name.empty()) s.name = text(j, "Service");
  if (s.name.empty()) return Error::invalid("isolation report: a service entry has no Name");
  s.pid = static_cast<int>(number(j, "Pid").value_or(0));
  const Json* health = field(j, "Health");
  const Json& h = health && health->is_object() ? *health : j;
  s.state = text(h, "State");
  s.message = text(h, "Message");
  const Json* iso = field(h, "Isolation");
  if (!iso) iso = field(j, "Isolation");
  if (iso && iso->is_object()) {
    sandbox::IsolationFacts f;
    f.pid = static_cast<pid_t>(number(*iso, "Pid").value_or(static_cast<uint64_t>(s.pid)));
    if (s.pid == 0) s.pid = f.pid;
    f.uid = static_cast<uid_t>(number(*iso, "Uid").value_or(0));
    f.gid = static_cast<gid_t>(number(*iso, "Gid").value_or(0));
    const Json* nnp = field(*iso, "NoNewPrivs");
    f.noNewPrivs = nnp && nnp->is_boolean() && nnp->get<bool>();
    f.capEff = number(*iso, "CapEff").value_or(0);
    f.capBnd = number(*iso, "CapBnd").value_or(0);
    f.seccompMode = static_cast<int>(number(*iso, "SeccompMode").value_or(0));
    f.netnsInode = number(*iso, "NetnsInode").value_or(0);
    if (const Json* ifs = field(*iso, "NonLoopbackInterfaces"); ifs && ifs->is_array()) {
      for (const auto& i : *ifs) {
        if (i.is_string()) f.nonLoopbackInterfaces.push_back(i.get<std::string>());
      }
    }
    std::string err = text(*iso, "Error");
    if (err.empty()) {
      s.facts = std::move(f);
    } else {
      s.factsError = err;  // the service could not read its own /proc entry
    }
  } else {
    s.factsError = "no isolation facts reported";
  }
  return s;
}

std::string seccompName(int mode) {
  switch (mode) {
    case 0:
      return "off";
    case 1:
      return "strict";
    case 2:
      return "filter";
    default:
      return std::to_string(mode);
  }
}

std::string capsText(uint64_t caps) {
  if (caps == 0) return "none";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(caps));
  return buf;
}

}  // namespace

Result<std::vector<ServiceIsolation>> parseIsolationReport(const Json& report) {
  const Json* services = report.is_array() ? &report : field(report, "Services");
  if (!services) return Error::invalid("isolation report: no \"Services\" in the answer");
  std::vector<ServiceIsolation> out;
  if (services->is_array()) {
    for (const auto& s : *services) {
      TNET_TRY(auto parsed, parseService(s, ""));
      out.push_back(std::move(parsed));
    }
  } else if (services->is_object()) {
    for (auto it = services->begin(); it != services->end(); ++it) {
      TNET_TRY(auto parsed, parseService(*it, it.key()));
      out.push_back(std::move(parsed));
    }
  } else {
    return Error::invalid("isolation report: \"Services\" is neither a list nor an object");
  }
  return out;
}

void readFactsFromProc(std::vector<ServiceIsolation>& services) {
  for (auto& s : services) {
    if (s.pid <= 0) {
      s.facts.reset();
      s.factsError = "no pid reported";
      continue;
    }
    auto f = sandbox::readIsolationFacts(static_cast<pid_t>(s.pid));
    if (f) {
      s.facts = *f;
      s.factsError.clear();
    } else {
      s.facts.reset();
      s.factsError = f.error().message;
    }
  }
}

std::string formatIsolation(const std::vector<ServiceIsolation>& services, uint64_t ownNetns, bool fromProc) {
  TabWriter w;
  w.line({"SERVICE", "PID", "UID", "NO_NEW_PRIVS", "CAP_EFF", "SECCOMP", "NETNS", "INTERFACES", "HEALTH"});
  for (const auto& s : services) {
    std::string health = s.state;
    if (!s.message.empty()) health += (health.empty() ? "" : ": ") + s.message;
    if (health.empty()) health = "-";
    if (!s.facts) {
      w.line({s.name, s.pid > 0 ? std::to_string(s.pid) : "-", "?", "?", "?", "?", "?", "?",
              health + " (" + s.factsError + ")"});
      continue;
    }
    const auto& f = *s.facts;
    std::string netns = std::to_string(f.netnsInode);
    if (ownNetns != 0 && f.netnsInode != 0) netns += f.netnsInode == ownNetns ? " (host)" : " (private)";
    std::string ifaces;
    for (const auto& i : f.nonLoopbackInterfaces) ifaces += (ifaces.empty() ? "" : ",") + i;
    if (ifaces.empty()) ifaces = "none";
    w.line({s.name, std::to_string(s.pid), std::to_string(f.uid), f.noNewPrivs ? "yes" : "no",
            capsText(f.capEff), seccompName(f.seccompMode), netns, ifaces, health});
  }
  std::string out = w.str();
  out += fromProc ? "(read from /proc by tnet)\n" : "(as reported by each service)\n";

  // One uid for every service means any of them can ptrace or signal another.
  bool single = !services.empty();
  std::optional<uid_t> first;
  for (const auto& s : services) {
    if (!s.facts) continue;
    if (!first)
      first = s.facts->uid;
    else if (*first != s.facts->uid)
      single = false;
  }
  if (!first) single = false;
  if (single) out += "single uid: no privilege separation\n";
  return out;
}

}  // namespace tnet::cli
