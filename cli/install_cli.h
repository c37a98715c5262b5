// The `install` and `uninstall` verbs' flags, for main.cpp (the one file that includes CLI11):
// addInstallCommands before parsing, runInstallCommands after.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "cli/install_plan.h"

namespace tnet::cli {

struct InstallCommands {
  CLI::App* install = nullptr;
  CLI::App* uninstall = nullptr;
  InstallArgs installArgs;
  InstallArgs uninstallArgs;
};

inline std::unique_ptr<InstallCommands> addInstallCommands(CLI::App& app) {
  auto c = std::make_unique<InstallCommands>();
  c->install = app.add_subcommand(
      "install",
      "Install the suite as systemd units (tailnetd.target) and start it (root; see docs/operations.md)");
  c->uninstall = app.add_subcommand(
      "uninstall",
      "Stop and remove the systemd units and binaries; keeps /var/lib/tailnetd (the node's keys)");
  for (auto [cmd, args] :
       {std::pair{c->install, &c->installArgs}, std::pair{c->uninstall, &c->uninstallArgs}}) {
    cmd->add_flag("--dry-run", args->dryRun, "print every file and command instead; works as any user");
    cmd->add_option("--root", args->root,
                    "act on the system image under DIR (systemctl --root): nothing is started")
        ->option_text("DIR");
  }
  c->install
      ->add_option("--from", c->installArgs.from, "directory of the built binaries (default: tnet's own)")
      ->option_text("DIR");
  return c;
}

// The exit code when one of the verbs was given, else nullopt.
inline std::optional<int> runInstallCommands(const InstallCommands& c) {
  if (c.install->parsed()) return runInstall(c.installArgs);
  if (c.uninstall->parsed()) return runUninstall(c.uninstallArgs);
  return std::nullopt;
}

}  // namespace tnet::cli
