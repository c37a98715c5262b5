#include "cli/install_plan.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>

extern char** environ;

namespace tnet::cli {

namespace {

using Step = InstallStep;
using Kind = InstallStep::Kind;

constexpr const char* UNIT_PREFIX = "packaging/systemd/";
constexpr const char* EXAMPLE_SUFFIX = ".example";
const std::string PACKAGED_LIBEXEC = "/usr/local/libexec/tailnetd/";  // what packaging/ names

std::string modeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode));
  return buf;
}

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string baseName(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

Step makeDir(std::string path) {
  return {Kind::MAKE_DIR, std::move(path), "", "", 0755, {}};
}
Step copy(std::string from, std::string to) {
  return {Kind::COPY, std::move(to), std::move(from), "", 0755, {}};
}
Step write(std::string path, std::string text) {
  return {Kind::WRITE, std::move(path), "", std::move(text), 0644, {}};
}
Step remove(std::string path) {
  return {Kind::REMOVE, std::move(path), "", "", 0, {}};
}
Step removeTree(std::string path) {
  return {Kind::REMOVE_TREE, std::move(path), "", "", 0, {}};
}
Step note(std::string text) {
  return {Kind::NOTE, "", "", std::move(text), 0, {}};
}
Step run(std::vector<std::string> argv, bool mayFail = false) {
  Step s{Kind::RUN, "", "", "", 0, std::move(argv)};
  s.mayFail = mayFail;
  return s;
}

// systemctl/systemd-sysusers/systemd-tmpfiles with --root=R when staging.
std::vector<std::string> tool(const std::string& name, const InstallOptions& o,
                              std::vector<std::string> args) {
  std::vector<std::string> argv = {name};
  if (!o.root.empty()) argv.push_back("--root=" + o.root);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The unit files (target, services, socket) compiled in from packaging/systemd, ExecStart=
// pointing at the libexec dir we install to.
std::vector<const EmbeddedFile*> unitFiles() {
  std::vector<const EmbeddedFile*> out;
  for (const auto& f : embeddedInstallFiles()) {
    if (f.path.rfind(UNIT_PREFIX, 0) == 0 && !endsWith(f.path, EXAMPLE_SUFFIX)) out.push_back(&f);
  }
  return out;
}

const EmbeddedFile* embedded(const std::string& path) {
  for (const auto& f : embeddedInstallFiles()) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

std::string withLibexec(std::string text) {
  const std::string to = std::string(INSTALL_LIBEXEC_DIR) + "/";
  if (to == PACKAGED_LIBEXEC) return text;
  for (auto pos = text.find(PACKAGED_LIBEXEC); pos != std::string::npos;
       pos = text.find(PACKAGED_LIBEXEC, pos)) {
    text.replace(pos, PACKAGED_LIBEXEC.size(), to);
    pos += to.size();
  }
  return text;
}

std::vector<std::string> serviceUnits() {
  std::vector<std::string> out;
  for (const auto& s : installServices()) out.push_back("tailnetd-" + s + ".service");
  return out;
}

Result<void> errnoError(const std::string& what) {
  return Error::failed(what + ": " + std::strerror(errno));
}

Result<void> makeDirs(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Error::failed("mkdir " + path + ": " + ec.message());
  if (chmod(path.c_str(), mode) != 0) return errnoError("chmod " + path);
  return {};
}

// Writes `size` bytes through a temporary file in the same directory, then renames it over
// `path`: a running binary or a unit systemd is reading is replaced, never half-written.
Result<void> writeAtomically(const std::string& path, mode_t mode,
                             const std::function<Result<void>(int)>& fill) {
  std::string tmp = path + ".tnet-new";
  unlink(tmp.c_str());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errnoError("create " + tmp);
  auto r = fill(fd);
  if (r && fchmod(fd, mode) != 0) r = errnoError("chmod " + tmp);
  if (r && fsync(fd) != 0) r = errnoError("fsync " + tmp);
  close(fd);
  if (r && rename(tmp.c_str(), path.c_str()) != 0) r = errnoError("rename " + tmp + " to " + path);
  if (!r) unlink(tmp.c_str());
  return r;
}

Result<void> writeAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError("write " + path);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

Result<void> copyFile(const std::string& from, const std::string& to, mode_t mode) {
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return errnoError("open " + from);
  auto r = writeAtomically(to, mode, [&](int out) -> Result<void> {
    char buf[1 << 16];
    for (;;) {
      ssize_t n = read(in, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errnoError("read " + from);
      if (n == 0) return {};
      if (auto w = writeAll(out, buf, static_cast<size_t>(n), to); !w) return w;
    }
  });
  close(in);
  return r;
}

Result<void> runCommand(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) return Error::failed(argv[0] + ": " + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errnoError("waitpid " + argv[0]);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return Error::failed(cmd + ": " +
                       (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                          : "killed by signal " + std::to_string(WTERMSIG(status))));
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    bool quote = a.find_first_of(" *'\"$") != std::string::npos;
    out += (out.empty() ? "" : " ") + (quote ? "'" + a + "'" : a);
  }
  return out;
}

}  // namespace

const std::vector<std::string>& installServices() {
  static const std::vector<std::string> LIST = {"wgd", "magicsockd", "netstackd", "controld", "ipnd", "apid"};
  return LIST;
}

Result<std::vector<InstallStep>> installPlan(const InstallOptions& o) {
  std::vector<std::string> missing;
  auto binary = [&](const std::string& name) {
    std::string p = o.from + "/" + name;
    if (access(p.c_str(), X_OK) != 0) missing.push_back(name);
    return p;
  };
  const std::string libexec = INSTALL_LIBEXEC_DIR;
  std::vector<Step> steps;
  steps.push_back(makeDir(libexec));
  for (const auto& svc : installServices()) steps.push_back(copy(binary(svc), libexec + "/" + svc));
  // The supervisor finds the services beside its own (resolved) executable: it lives with them
  // and /usr/local/bin/tailnetd points there.
  steps.push_back(copy(binary("tailnetd"), libexec + "/tailnetd"));
  steps.push_back(makeDir(INSTALL_BIN_DIR));
  steps.push_back(
      {Kind::SYMLINK, std::string(INSTALL_BIN_DIR) + "/tailnetd", "../libexec/tailnetd/tailnetd", "", 0, {}});
  steps.push_back(copy(binary("tnet"), std::string(INSTALL_BIN_DIR) + "/tnet"));
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    return Error::failed("missing in " + o.from + ": " + names +
                         " (build them first, or name their directory with --from)");
  }

  steps.push_back(makeDir(INSTALL_UNIT_DIR));
  for (const auto* f : unitFiles()) {
    steps.push_back(write(std::string(INSTALL_UNIT_DIR) + "/" + baseName(f->path), withLibexec(f->text)));
  }
  const std::string sysusersDir = std::filesystem::path(INSTALL_SYSUSERS).parent_path();
  const std::string tmpfilesDir = std::filesystem::path(INSTALL_TMPFILES).parent_path();
  steps.push_back(makeDir(sysusersDir));
  steps.push_back(write(INSTALL_SYSUSERS, embedded("packaging/sysusers.d/tailnetd.conf")->text));
  steps.push_back(makeDir(tmpfilesDir));
  steps.push_back(write(INSTALL_TMPFILES, embedded("packaging/tmpfiles.d/tailnetd.conf")->text));
  steps.push_back(makeDir(INSTALL_DOC_DIR));
  for (const char* doc :
       {"docs/operations.md", "docs/hardening.md", "packaging/systemd/tailnetd-ipnd-config.conf.example"}) {
    if (const auto* f = embedded(doc)) {
      steps.push_back(write(std::string(INSTALL_DOC_DIR) + "/" + baseName(f->path), f->text));
    }
  }

  auto inRoot = [&](const std::string& p) { return o.root + p; };
  steps.push_back(run(tool("systemd-sysusers", o, {inRoot(INSTALL_SYSUSERS)})));
  steps.push_back(run(tool("systemd-tmpfiles", o, {"--create", inRoot(INSTALL_TMPFILES)})));
  if (o.root.empty()) steps.push_back(run({"systemctl", "daemon-reload"}));
  steps.push_back(run(tool("systemctl", o, {"enable", "tailnetd.target"})));
  if (o.startUnits && o.root.empty()) {
    // restart (not start): an upgrade replaces running services with the new binaries; on a
    // fresh install it starts them. apid pulls in its socket.
    auto restart = serviceUnits();
    restart.insert(restart.begin(), "restart");
    restart.insert(restart.begin(), "systemctl");
    steps.push_back(run(restart));
    steps.push_back(run({"systemctl", "start", "tailnetd.target"}));
    steps.push_back(note("tailnetd is installed and running: tnet status; logs: journalctl -u 'tailnetd-*'"));
  } else {
    steps.push_back(note("tailnetd is installed in " + o.root + " and enabled; it starts with that system"));
  }
  return steps;
}

std::vector<InstallStep> uninstallPlan(const InstallOptions& o) {
  std::vector<Step> steps;
  auto units = serviceUnits();
  if (o.root.empty()) {
    std::vector<std::string> stop = {"systemctl", "stop", "tailnetd.target", "tailnetd-apid.socket"};
    stop.insert(stop.end(), units.begin(), units.end());
    steps.push_back(run(stop, true));
  }
  steps.push_back(run(tool("systemctl", o, {"disable", "tailnetd.target"}), true));
  for (const auto* f : unitFiles())
    steps.push_back(remove(std::string(INSTALL_UNIT_DIR) + "/" + baseName(f->path)));
  steps.push_back(remove(INSTALL_SYSUSERS));
  steps.push_back(remove(INSTALL_TMPFILES));
  steps.push_back(removeTree(INSTALL_DOC_DIR));
  steps.push_back(removeTree(INSTALL_LIBEXEC_DIR));
  steps.push_back(remove(std::string(INSTALL_BIN_DIR) + "/tailnetd"));
  steps.push_back(remove(std::string(INSTALL_BIN_DIR) + "/tnet"));
  if (o.root.empty()) steps.push_back(run({"systemctl", "daemon-reload"}, true));
  steps.push_back(removeTree(INSTALL_RUNTIME_DIR));
  steps.push_back(note(std::string("kept ") + INSTALL_STATE_DIR +
                       ": it holds the machine and node keys and the prefs, so a reinstall is the same node. "
                       "To forget the node, run `tnet logout` first, then: rm -rf " +
                       INSTALL_STATE_DIR));
  steps.push_back(
      note("kept the users tailnetd-<svc> and the group tailnetd (userdel/groupdel to remove them) "
           "and any drop-ins in /etc/systemd/system/tailnetd-*.service.d"));
  return steps;
}

std::string describePlan(const std::vector<InstallStep>& steps, const std::string& root) {
  std::string out;
  for (const auto& s : steps) {
    std::string path = root + s.path;
    switch (s.kind) {
      case Kind::MAKE_DIR:
        out += "mkdir -p -m " + modeText(s.mode) + " " + path + "\n";
        break;
      case Kind::COPY:
        out += "copy " + s.source + " -> " + path + " (" + modeText(s.mode) + ")\n";
        break;
      case Kind::SYMLINK:
        out += "symlink " + path + " -> " + s.source + "\n";
        break;
      case Kind::WRITE:
        out += "write " + path + " (" + modeText(s.mode) + ", " + std::to_string(s.text.size()) +
               " bytes) <<'EOF'\n" + s.text + (s.text.empty() || s.text.back() != '\n' ? "\n" : "") + "EOF\n";
        break;
      case Kind::REMOVE:
        out += "remove " + path + "\n";
        break;
      case Kind::REMOVE_TREE:
        out += "remove -r " + path + "\n";
        break;
      case Kind::RUN:
        out += "run " + joined(s.argv) + (s.mayFail ? "   (a failure is reported and ignored)" : "") + "\n";
        break;
      case Kind::NOTE:
        out += "note: " + s.text + "\n";
        break;
    }
  }
  return out;
}

Result<void> runStep(const InstallStep& s, const std::string& root, std::FILE* out) {
  std::string path = root + s.path;
  std::string line = describePlan({s}, root);
  std::fputs(line.substr(0, line.find('\n') + 1).c_str(), out);
  std::fflush(out);
  switch (s.kind) {
    case Kind::MAKE_DIR:
      return makeDirs(path, s.mode);
    case Kind::COPY:
      return copyFile(s.source, path, s.mode);
    case Kind::SYMLINK: {
      std::string tmp = path + ".tnet-new";
      unlink(tmp.c_str());
      if (symlink(s.source.c_str(), tmp.c_str()) != 0) return errnoError("symlink " + tmp);
      if (rename(tmp.c_str(), path.c_str()) != 0) return errnoError("rename " + tmp + " to " + path);
      return {};
    }
    case Kind::WRITE:
      return writeAtomically(path, s.mode,
                             [&](int fd) { return writeAll(fd, s.text.data(), s.text.size(), path); });
    case Kind::REMOVE:
      if (unlink(path.c_str()) != 0 && errno != ENOENT) return errnoError("remove " + path);
      return {};
    case Kind::REMOVE_TREE: {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);  // does not follow symlinks
      if (ec) return Error::failed("remove " + path + ": " + ec.message());
      return {};
    }
    case Kind::RUN: {
      auto r = runCommand(s.argv);
      if (!r && s.mayFail) {
        std::fprintf(out, "  (ignored: %s)\n", r.error().message.c_str());
        return {};
      }
      return r;
    }
    case Kind::NOTE:
      return {};
  }
  return {};
}

}  // namespace tnet::cli
