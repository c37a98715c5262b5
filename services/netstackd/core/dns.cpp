#include "services/netstackd/core/dns.h"

#include <algorithm>
#include <cctype>

#include "libs/base/bytes.h"

namespace tnet::netstack::dns {

namespace {

std::string normalize(std::string_view name) {
  if (name.ends_with(".")) name.remove_suffix(1);
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

const char* const QUAD100_NAME = "magicdns.localhost-tailscale-daemon";

void appendU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}

}  // namespace

void NameTable::add(std::string_view fqdn, std::vector<Addr> addrs, std::string_view suffix) {
  std::string name = normalize(fqdn);
  if (name.empty()) return;
  auto& entry = names_[name];
  entry.addrs.insert(entry.addrs.end(), addrs.begin(), addrs.end());
  std::string sfx = normalize(suffix);
  if (!sfx.empty() && name.size() > sfx.size() + 1 && name.ends_with("." + sfx)) {
    std::string shortName = name.substr(0, name.size() - sfx.size() - 1);
    auto& s = names_[shortName];
    s.addrs.insert(s.addrs.end(), addrs.begin(), addrs.end());
  }
}

std::vector<Addr> NameTable::allAddrs() const {
  std::vector<Addr> out;
  for (const auto& [name, entry] : names_) out.insert(out.end(), entry.addrs.begin(), entry.addrs.end());
  return out;
}

const NameEntry* NameTable::lookup(std::string_view name) const {
  auto it = names_.find(normalize(name));
  return it == names_.end() ? nullptr : &it->second;
}

bool parseQuery(std::span<const uint8_t> msg, uint16_t& id, Question& q, size_t& questionEnd) {
  if (msg.size() < 12) return false;
  id = getU16BE(&msg[0]);
  uint16_t flags = getU16BE(&msg[2]);
  if (flags & 0x8000) return false;  // a response
  if (getU16BE(&msg[4]) != 1) return false;
  size_t pos = 12;
  q.name.clear();
  size_t total = 0;
  while (true) {
    if (pos >= msg.size()) return false;
    uint8_t len = msg[pos++];
    if (len == 0) break;
    if (len > 63) return false;  // compression pointers and extended labels do not belong here
    if (pos + len > msg.size()) return false;
    total += len + 1;
    if (total > 255) return false;
    if (!q.name.empty()) q.name += '.';
    for (size_t i = 0; i < len; ++i) {
      char c = char(msg[pos + i]);
      if (c == '.' || c == '\0') return false;
      q.name += c;
    }
    pos += len;
  }
  if (pos + 4 > msg.size()) return false;
  q.type = getU16BE(&msg[pos]);
  q.klass = getU16BE(&msg[pos + 2]);
  questionEnd = pos + 4;
  return true;
}

std::vector<Addr> resolve(const NameTable& table, std::string_view name) {
  if (normalize(name) == QUAD100_NAME) {
    Addr v6;
    v6.v6 = true;
    v6.bytes = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
    return {Addr::v4(100, 100, 100, 100), v6};
  }
  const NameEntry* e = table.lookup(name);
  return e ? e->addrs : std::vector<Addr>{};
}

std::vector<uint8_t> answer(std::span<const uint8_t> msg, const NameTable& table) {
  if (msg.size() < 12 || (msg[2] & 0x80)) return {};
  std::vector<uint8_t> out;
  uint16_t id = getU16BE(&msg[0]);
  uint8_t opcode = (msg[2] >> 3) & 0x0f;
  bool rd = msg[2] & 0x01;
  auto header = [&](uint8_t rcode, bool aa, uint16_t qd, uint16_t an) {
    appendU16(out, id);
    out.push_back(uint8_t(0x80 | (opcode << 3) | (aa ? 0x04 : 0) | (rd ? 0x01 : 0)));
    out.push_back(uint8_t(0x80 | rcode));  // RA
    appendU16(out, qd);
    appendU16(out, an);
    appendU16(out, 0);
    appendU16(out, 0);
  };
  Question q;
  size_t qEnd = 0;
  if (opcode != 0) {
    header(RCODE_NOTIMP, false, 0, 0);
    return out;
  }
  if (!parseQuery(msg, id, q, qEnd)) {
    header(RCODE_FORMERR, false, 0, 0);
    return out;
  }
  std::span<const uint8_t> question = msg.subspan(12, qEnd - 12);
  auto withQuestion = [&](uint8_t rcode, uint16_t an) {
    header(rcode, true, 1, an);
    out.insert(out.end(), question.begin(), question.end());
  };
  std::vector<Addr> addrs = resolve(table, q.name);
  if (addrs.empty() || q.klass != 1) {
    withQuestion(addrs.empty() ? RCODE_NXDOMAIN : RCODE_NOERROR, 0);
    return out;
  }
  if (q.type == TYPE_NS || q.type == TYPE_SOA || q.type == TYPE_AXFR || q.type == TYPE_HINFO) {
    withQuestion(RCODE_NOTIMP, 0);
    return out;
  }
  const Addr* pick = nullptr;
  if (q.type == TYPE_A || q.type == TYPE_AAAA) {
    bool wantV6 = q.type == TYPE_AAAA;
    for (const auto& a : addrs)
      if (a.v6 == wantV6) {
        pick = &a;  // Go answers one address per family
        break;
      }
  }
  withQuestion(RCODE_NOERROR, pick ? 1 : 0);
  if (pick) {
    appendU16(out, 0xc00c);  // pointer to the question name
    appendU16(out, q.type);
    appendU16(out, 1);
    out.push_back(0), out.push_back(0), appendU16(out, uint16_t(TTL));
    uint16_t len = pick->v6 ? 16 : 4;
    appendU16(out, len);
    out.insert(out.end(), pick->bytes.begin(), pick->bytes.begin() + len);
  }
  return out;
}

}  // namespace tnet::netstack::dns
