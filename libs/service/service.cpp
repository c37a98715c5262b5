#include "libs/service/service.h"

#include <capnp/message.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>

#include "libs/log/log.h"
#include "libs/sandbox/isolation.h"
#include "libs/sandbox/seccomp.h"
#include "schemas/common.capnp.h"

namespace tnet::service {

namespace {

schema::Health::State toSchema(HealthState s) {
  switch (s) {
    case HealthState::STARTING:
      return schema::Health::State::STARTING;
    case HealthState::OK:
      return schema::Health::State::OK;
    case HealthState::DEGRADED:
      return schema::Health::State::DEGRADED;
    case HealthState::FAILED:
      return schema::Health::State::FAILED;
  }
  return schema::Health::State::FAILED;
}

std::string_view healthName(HealthState s) {
  switch (s) {
    case HealthState::STARTING:
      return "starting";
    case HealthState::OK:
      return "ok";
    case HealthState::DEGRADED:
      return "degraded";
    case HealthState::FAILED:
      return "failed";
  }
  return "?";
}

}  // namespace

Service::Service(std::string name, Options options, bus::Loop& loop, std::unique_ptr<bus::Bus> bus)
    : name_(std::move(name)),
      options_(std::move(options)),
      loop_(loop),
      bus_(std::move(bus)),
      restartFacts_(restartFactsFromEnvironment([](const char* n) { return std::getenv(n); })) {
  if (restartFacts_.restarts > 0) {
    log().info("service.restarted restarts={} last_exit={} last_exit_unix_ms={}", restartFacts_.restarts,
               log::quote(restartFacts_.lastExit), restartFacts_.lastExitUnixMs);
  }
}

Service::~Service() = default;

spdlog::logger& Service::log() {
  return log::logger();
}

void Service::fillHealth(capnp::AnyPointer::Builder builder) {
  auto h = builder.initAs<schema::Health>();
  h.setService(name_);
  h.setState(toSchema(healthState_));
  h.setMessage(healthMessage_);
  h.setEpoch(bus_->epoch());
  writeRestartFacts(restartFacts_, h);
  auto facts = sandbox::readIsolationFacts(0);
  if (!facts) {
    h.setIsolationError(facts.error().message);
    return;
  }
  auto iso = h.initIsolation();
  iso.setPid(static_cast<uint32_t>(facts->pid));
  iso.setUid(facts->uid);
  iso.setGid(facts->gid);
  iso.setNoNewPrivs(facts->noNewPrivs);
  iso.setCapEff(facts->capEff);
  iso.setCapBnd(facts->capBnd);
  iso.setSeccompMode(static_cast<uint8_t>(facts->seccompMode));
  iso.setNetnsInode(facts->netnsInode);
  auto ifs = iso.initNonLoopbackInterfaces(static_cast<unsigned>(facts->nonLoopbackInterfaces.size()));
  for (unsigned i = 0; i < facts->nonLoopbackInterfaces.size(); ++i) {
    ifs.set(i, facts->nonLoopbackInterfaces[i]);
  }
}

void Service::setHealth(HealthState state, std::string message) {
  bool changed = state != healthState_ || message != healthMessage_;
  healthState_ = state;
  healthMessage_ = std::move(message);
  if (changed) {
    log().info("service.health state={} message={}", healthName(state), log::quote(healthMessage_));
  }
  bus_->publish(name_ + ".health", [this](capnp::AnyPointer::Builder b) { fillHealth(b); });
}

void Service::onShutdown(std::function<void()> fn) {
  shutdownHooks_.push_back(std::move(fn));
}

void Service::stop(int exitCode) {
  if (stopping_) return;
  stopping_ = true;
  exitCode_ = exitCode;
  for (auto& hook : shutdownHooks_) hook();
  loop_.stop();
}

void Service::installSysHandlers() {
  bus_->serve("sys.setLogLevel", [this](bus::Request req) {
    int level = req.params<schema::SetLogLevelParams>().getLevel();
    auto r = log::setLevel(level);
    if (!r) return req.fail(r.error());
    log().info("service.loglevel level={} caller={}", level, req.caller().service);
    req.replyEmpty();
  });
  bus_->serve("sys.health", [this](bus::Request req) {
    req.reply([this](capnp::AnyPointer::Builder b) { fillHealth(b); });
  });
  setHealth(HealthState::STARTING, "starting");
}

bool notifyReady() {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return true;
  int rc = sd_notify(0, "READY=1");
  if (rc <= 0) {
    log::logger().warn("service.notify.failed err={}", rc < 0 ? std::strerror(-rc) : "not sent");
    return false;
  }
  return true;
}

namespace {

Result<void> ensureDir(const std::string& dir, const char* what) {
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error::failed(std::string(what) + " " + dir + " is not a directory");
    return {};
  }
  if (mkdir(dir.c_str(), 0700) != 0) {
    return Error::failed(std::string("cannot create ") + what + " " + dir + ": " + std::strerror(errno));
  }
  return {};
}

// The service narrows itself once start() has opened what it needs (docs/hardening.md):
// TAILNETD_SECCOMP's mode, the service's allow-list from libs/sandbox/seccomp_policy.cpp.
Result<void> confineSelf(const std::string& name) {
  auto& logger = log::logger();
  auto c = sandbox::confineService(name);
  if (!c) return c.error();
  logger.info("service.seccomp mode={} syscalls={}", sandbox::seccompModeName(c->mode), c->syscalls);
  auto probe = sandbox::forbiddenSyscallProbe();
  if (!probe) return probe.error();
  if (*probe) {
    // Test knob: under kill mode the process dies here by SIGSYS, never holding the socket.
    logger.warn("service.seccomp.test-probe probe={} trying socket(AF_INET)", **probe);
    int got = sandbox::runForbiddenSyscallProbe(**probe);
    if (got >= 0) {
      logger.error("service.seccomp.test-probe got a socket: the filter did not stop it (mode={})",
                   sandbox::seccompModeName(c->mode));
    } else {
      logger.warn("service.seccomp.test-probe refused err={}", log::quote(std::strerror(-got)));
    }
  }
  return {};
}

}  // namespace

int run(const ServiceMain& spec, int argc, char** argv) {
  Options options;
  CLI::App app{"tailnetd service " + spec.name, spec.name};
  app.add_option("--runtime-dir", options.runtimeDir, "directory of the bus endpoints")->required();
  app.add_option("--state-dir", options.stateDir, "this service's state directory")->required();
  app.add_option("--log-level", options.logLevel, "0 info, 1 debug, 2 trace")
      ->check(CLI::Range(0, log::LEVEL_MAX));
  if (spec.addOptions) spec.addOptions(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  log::init(spec.name, options.logLevel);
  auto& logger = log::logger();

  // SIGTERM/SIGINT arrive through a signalfd on the loop. Block them before any thread exists
  // (ZeroMQ's I/O threads inherit the mask), so no thread takes them asynchronously.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
    logger.error("service.start.failed err={}", log::quote(std::strerror(errno)));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  int sigFd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigFd < 0) {
    logger.error("service.start.failed err={}", log::quote(std::string("signalfd: ") + std::strerror(errno)));
    return 1;
  }

  if (auto r = ensureDir(options.stateDir, "state dir"); !r) {
    logger.error("service.start.failed err={}", log::quote(r.error().message));
    return 1;
  }

  int exitCode = 0;
  {
    bus::Loop loop;
    auto bus = bus::Bus::create(loop, bus::BusOptions{options.runtimeDir, spec.name});
    if (!bus) {
      logger.error("service.start.failed err={}", log::quote(bus.error().message));
      close(sigFd);
      return 1;
    }
    uint64_t epoch = (*bus)->epoch();
    auto service = std::make_unique<Service>(spec.name, options, loop, std::move(*bus));
    service->installSysHandlers();

    bus::Handle sigWatch = loop.watchFd(sigFd, [&] {
      signalfd_siginfo info{};
      while (read(sigFd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        logger.info("service.stop signal={}", info.ssi_signo == SIGTERM ? "TERM" : "INT");
        service->stop(0);
      }
    });

    std::shared_ptr<void> appState;
    if (spec.start) {
      auto started = spec.start(*service);
      if (!started) {
        logger.error("service.start.failed err={}", log::quote(started.error().message));
        sigWatch.reset();
        close(sigFd);
        return 1;
      }
      appState = std::move(*started);
    }
    if (auto confined = confineSelf(spec.name); !confined) {
      logger.error("service.start.failed err={}", log::quote(confined.error().message));
      sigWatch.reset();
      appState.reset();
      close(sigFd);
      return 1;
    }
    service->setHealth(service->healthState(), service->healthMessage());  // now with Seccomp: 2
    // READY means "endpoints and ZAP handler bound", never "configured" (ARCHITECTURE §Startup).
    notifyReady();
    logger.info("service.ready runtime={} state={} epoch={} pid={}", log::quote(options.runtimeDir),
                log::quote(options.stateDir), epoch, getpid());
    loop.run();
    exitCode = service->exitCode();
    sigWatch.reset();
    appState.reset();  // the app's sockets and handlers go before the bus
    service.reset();   // closes the bus, unlinks the endpoint files
  }
  close(sigFd);
  logger.info("service.stopped code={}", exitCode);
  return exitCode;
}

}  // namespace tnet::service
