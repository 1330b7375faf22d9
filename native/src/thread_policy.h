// SPDX-License-Identifier: Apache-2.0
//
// The sensor's own threads below every other process while it keeps up
// (issue 17: an agent session must not wait for the sensor). JS names the
// threads (all but the ring reader); they run at SCHED_IDLE, so they take
// only CPU time nobody else wants. That alone would let a busy machine, or
// an agent spinning on purpose, starve the sensor: so the ring reader,
// which stays at normal priority and wakes every poll interval, watches
// how long a batch has waited for JS (and whether JS still says alive()
// when due: addon.cc), and past a bound raises the threads to SCHED_OTHER
// at nice 0 (a "boost") until JS has caught up.
// What waits is still done; the bound is how late it may be.
#ifndef AGENT_SENSOR_THREAD_POLICY_H
#define AGENT_SENSOR_THREAD_POLICY_H

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

class ThreadPolicy {
 public:
  struct Counters {
    bool enabled;         // threads were handed over
    bool boosted;         // at normal priority now
    uint64_t threads;     // threads under the policy
    uint64_t boosts;      // times raised
    uint64_t boostedNs;   // time spent raised (finished boosts plus the current one)
    int lastError;        // -errno of the last failed change, 0 if none
  };

  explicit ThreadPolicy(uint64_t boostAfterNs) : boostAfterNs_(boostAfterNs) {}

  // Main thread: the threads to keep idle (replaces the list). Each is set
  // to the current state at once; a thread that is gone is left out.
  void SetThreads(const std::vector<pid_t> &tids);

  // Reader thread, every poll round: waitingSinceNs is when the oldest batch
  // not yet taken by JS was handed over (0: none waits).
  void Tick(uint64_t waitingSinceNs, uint64_t nowNs);

  // Back to normal priority for good (the sensor stops: its last drain must not wait).
  void Release();

  Counters Read();

 private:
  void ApplyLocked(bool boosted);
  int Set(pid_t tid, bool boosted);

  const uint64_t boostAfterNs_;
  std::mutex mu_;
  std::vector<pid_t> tids_;
  bool enabled_ = false;
  std::atomic<bool> boosted_{false};  // read by Tick without the lock
  uint64_t boosts_ = 0;
  uint64_t boostedNs_ = 0;
  uint64_t boostStartNs_ = 0;
  int lastError_ = 0;
};

uint64_t MonotonicNs();

#endif  // AGENT_SENSOR_THREAD_POLICY_H
