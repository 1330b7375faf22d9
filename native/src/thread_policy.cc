// SPDX-License-Identifier: Apache-2.0
#include "thread_policy.h"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <cerrno>

uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// 0, or -errno. Raised: SCHED_OTHER at nice 0 (the threads' work waits, so
// they get a full share until it is done); else SCHED_IDLE (nice is ignored).
int ThreadPolicy::Set(pid_t tid, bool boosted) {
  struct sched_param p = {};
  if (sched_setscheduler(tid, boosted ? SCHED_OTHER : SCHED_IDLE, &p) != 0) return -errno;
  if (boosted && setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 0) != 0) return -errno;
  return 0;
}

void ThreadPolicy::ApplyLocked(bool boosted) {
  std::vector<pid_t> alive;
  alive.reserve(tids_.size());
  for (pid_t tid : tids_) {
    int err = Set(tid, boosted);
    if (err == -ESRCH) continue;  // exited
    if (err) lastError_ = err;
    alive.push_back(tid);
  }
  tids_.swap(alive);
}

void ThreadPolicy::SetThreads(const std::vector<pid_t> &tids) {
  std::lock_guard<std::mutex> lock(mu_);
  tids_ = tids;
  enabled_ = true;
  ApplyLocked(boosted_);
}

void ThreadPolicy::Tick(uint64_t waitingSinceNs, uint64_t nowNs) {
  bool behind = waitingSinceNs != 0 && nowNs - waitingSinceNs > boostAfterNs_;
  if (behind == boosted_.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!enabled_) return;
  if (behind == boosted_) return;
  boosted_ = behind;
  if (behind) {
    boosts_++;
    boostStartNs_ = nowNs;
  } else {
    boostedNs_ += nowNs - boostStartNs_;
  }
  ApplyLocked(behind);
}

void ThreadPolicy::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!enabled_) return;
  if (!boosted_) ApplyLocked(true);
  else boostedNs_ += MonotonicNs() - boostStartNs_;
  boosted_ = false;
  enabled_ = false;
  tids_.clear();
}

ThreadPolicy::Counters ThreadPolicy::Read() {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t current = boosted_ ? MonotonicNs() - boostStartNs_ : 0;
  return Counters{enabled_, boosted_.load(), tids_.size(), boosts_, boostedNs_ + current, lastError_};
}
