// `tnet install` / `tnet uninstall`: the systemd form of the suite put in place or taken away.
// A plan is a list of steps (directories, copies, files with their exact contents, commands);
// --dry-run prints it, a real run carries it out step by step. The unit, sysusers and tmpfiles
// files are the ones in packaging/, compiled into tnet (install_files.cmake), so what is
// installed is what packaging_test scored. docs/operations.md is the operator's view.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

#include "libs/base/result.h"

namespace tnet::cli {

// Where the suite goes on the target system (paths as seen from inside `root`).
inline constexpr const char* INSTALL_LIBEXEC_DIR = "/usr/local/libexec/tailnetd";
inline constexpr const char* INSTALL_BIN_DIR = "/usr/local/bin";
inline constexpr const char* INSTALL_UNIT_DIR = "/usr/local/lib/systemd/system";
inline constexpr const char* INSTALL_SYSUSERS = "/usr/local/lib/sysusers.d/tailnetd.conf";
inline constexpr const char* INSTALL_TMPFILES = "/usr/local/lib/tmpfiles.d/tailnetd.conf";
inline constexpr const char* INSTALL_DOC_DIR = "/usr/local/share/doc/tailnetd";
inline constexpr const char* INSTALL_STATE_DIR = "/var/lib/tailnetd";
inline constexpr const char* INSTALL_RUNTIME_DIR = "/run/tailnetd";

// The six services, in the supervisor's start order.
const std::vector<std::string>& installServices();

// One file compiled into tnet: its path under packaging/ (or docs/) and its bytes.
struct EmbeddedFile {
  std::string path;  // e.g. "packaging/systemd/tailnetd-wgd.service", "docs/operations.md"
  std::string text;
};
const std::vector<EmbeddedFile>& embeddedInstallFiles();

struct InstallStep {
  enum class Kind { MAKE_DIR, COPY, SYMLINK, WRITE, REMOVE, REMOVE_TREE, RUN, NOTE } kind;
  std::string path;               // target (inside the root); REMOVE*: what goes
  std::string source;             // COPY: the file copied; SYMLINK: the link's target
  std::string text;               // WRITE: the exact contents; NOTE: the message
  mode_t mode = 0;                // MAKE_DIR, COPY, WRITE
  std::vector<std::string> argv;  // RUN
  bool mayFail = false;           // RUN: a failure is reported and the plan goes on (uninstall)
};

struct InstallOptions {
  std::string from;        // directory of the built binaries (tailnetd, tnet, the services)
  std::string root;        // "" = this system; else a staging root (systemctl/sysusers --root)
  bool startUnits = true;  // false with root: nothing is started in a staging root
};

// The steps of `tnet install`. Fails when a binary is missing in `from` (naming each).
Result<std::vector<InstallStep>> installPlan(const InstallOptions& options);
// The steps of `tnet uninstall`: stop and disable, remove what install wrote, keep the state dir.
std::vector<InstallStep> uninstallPlan(const InstallOptions& options);

// The plan as --dry-run prints it: one line per step, files as shell here-documents with their
// exact contents (`write PATH (0644, N bytes) <<'EOF'` … `EOF`).
// Paths are shown inside `root`.
std::string describePlan(const std::vector<InstallStep>& steps, const std::string& root = "");

// Carries out one step (paths prefixed by `root`), first printing its line to `out`.
Result<void> runStep(const InstallStep& step, const std::string& root, std::FILE* out);

// The verbs (cli/cmd_install.cpp). Both refuse non-root callers and, without --root, hosts
// without systemd as PID 1; --dry-run prints the plan and works for anyone anywhere.
struct InstallArgs {
  bool dryRun = false;
  std::string from;  // install: directory of the built binaries ("" = tnet's own directory)
  std::string root;  // "" = this system
};
int runInstall(const InstallArgs& args);
int runUninstall(const InstallArgs& args);

}  // namespace tnet::cli
