// `tnet install` and `tnet uninstall` (cli/install_plan.h builds the steps; this file checks who
// may run them and where, then prints or carries them out).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"  // exit codes
#include "cli/install_plan.h"

namespace tnet::cli {

namespace {

// The directory of the running tnet: a build's bin/ holds tailnetd and the services beside it.
std::string ownDirectory() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

// sd_booted(): systemd as PID 1 creates /run/systemd/system.
bool systemdIsPid1() {
  struct stat st {};
  return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

int fail(const std::string& verb, const std::string& message) {
  std::fprintf(stderr, "tnet %s: %s\n", verb.c_str(), message.c_str());
  return EXIT_FAILURE_CODE;
}

// Who may carry out a plan here; "" when allowed.
std::string refusal(const std::string& verb, const InstallArgs& args) {
  if (geteuid() != 0) {
    return "must be run as root (try: sudo tnet " + verb + "); tnet " + verb +
           " --dry-run shows what it would do";
  }
  if (args.root.empty() && !systemdIsPid1()) {
    return "systemd is not running as PID 1 on this host (no /run/systemd/system): run the suite with the "
           "tailnetd supervisor instead (docs/operations.md), or stage an image with --root DIR";
  }
  if (!args.root.empty() && args.root.front() != '/') return "--root needs an absolute path";
  return "";
}

int carryOut(const std::string& verb, const std::vector<InstallStep>& steps, const InstallArgs& args) {
  for (const auto& step : steps) {
    auto r = runStep(step, args.root, stdout);
    if (!r) return fail(verb, r.error().message);
    if (step.kind == InstallStep::Kind::NOTE) std::printf("note: %s\n", step.text.c_str());
  }
  return EXIT_OK;
}

InstallOptions optionsFrom(const InstallArgs& args) {
  InstallOptions o;
  o.from = args.from.empty() ? ownDirectory() : args.from;
  o.root = args.root;
  while (o.root.size() > 1 && o.root.back() == '/') o.root.pop_back();
  if (o.root == "/") o.root.clear();
  o.startUnits = o.root.empty();
  return o;
}

}  // namespace

int runInstall(const InstallArgs& args) {
  InstallOptions o = optionsFrom(args);
  auto plan = installPlan(o);
  if (!plan) return fail("install", plan.error().message);
  if (args.dryRun) {
    std::printf("# tnet install --dry-run: nothing is changed. As root, tnet install would:\n%s",
                describePlan(*plan, o.root).c_str());
    return EXIT_OK;
  }
  if (auto why = refusal("install", args); !why.empty()) return fail("install", why);
  return carryOut("install", *plan, InstallArgs{false, o.from, o.root});
}

int runUninstall(const InstallArgs& args) {
  InstallOptions o = optionsFrom(args);
  auto plan = uninstallPlan(o);
  if (args.dryRun) {
    std::printf("# tnet uninstall --dry-run: nothing is changed. As root, tnet uninstall would:\n%s",
                describePlan(plan, o.root).c_str());
    return EXIT_OK;
  }
  if (auto why = refusal("uninstall", args); !why.empty()) return fail("uninstall", why);
  return carryOut("uninstall", plan, InstallArgs{false, o.from, o.root});
}

}  // namespace tnet::cli
