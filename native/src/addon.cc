// SPDX-License-Identifier: Apache-2.0
//
// KernelSensor: the Node-API face of the loader. One object owns one
// loaded sensor, its ring reader thread and the thread-safe function that
// carries batches to JS. See native/README.md for the thread model.
#include <napi.h>

#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "events.h"
#include "loader.h"
#include "ring_reader.h"
#include "thread_policy.h"

namespace {

constexpr uint32_t DEFAULT_POLL_MS = 20;
constexpr uint32_t DEFAULT_BATCH_BYTES = 256 * 1024;
constexpr size_t MIN_BATCH_BYTES = 4096;
constexpr size_t QUEUE_BATCHES = 64;
// Batches handed to JS whose hand-over time is remembered: more than can wait.
constexpr size_t HANDED_SLOTS = 128;
static_assert(HANDED_SLOTS > QUEUE_BATCHES + 1, "every waiting batch needs its slot");
// How long a batch may wait for JS before the sensor's idle threads are raised.
constexpr uint64_t BOOST_AFTER_NS = 200ull * 1000 * 1000;
// JS, once it has said alive(), says it again at least this often while it
// keeps up; past that (plus BOOST_AFTER_NS) it counts as behind too.
constexpr uint64_t ALIVE_EVERY_NS = 100ull * 1000 * 1000;

class KernelSensor;
void CallJs(Napi::Env env, Napi::Function onBatch, KernelSensor *self, Batch *batch);
using BatchTsfn = Napi::TypedThreadSafeFunction<KernelSensor, Batch, CallJs>;

// An Error with .errno (negative, as Node's own) and .code ('EPERM').
Napi::Error ErrnoError(Napi::Env env, int err, const std::string &message) {
  Napi::Error e = Napi::Error::New(env, message);
  const char *name = strerrorname_np(err < 0 ? -err : err);
  e.Set("errno", Napi::Number::New(env, err < 0 ? err : -err));
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  return e;
}

struct Options {
  loader_config cfg{};
  int pollMs = DEFAULT_POLL_MS;
  size_t batchBytes = DEFAULT_BATCH_BYTES;
};

uint32_t OptU32(Napi::Object o, const char *name, uint32_t fallback) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0)
    throw Napi::TypeError::New(o.Env(), std::string("options.") + name + " must be a non-negative number");
  return v.As<Napi::Number>().Uint32Value();
}

Options ParseOptions(Napi::Object o) {
  Options opt;
  opt.cfg.ring_bytes = OptU32(o, "ringBytes", 4u << 20);
  opt.cfg.trace_all = o.Get("traceAll").ToBoolean();
  opt.cfg.self_tgid = OptU32(o, "selfPid", static_cast<uint32_t>(getpid()));
  opt.cfg.tracked_max = OptU32(o, "trackedMax", 0);
  opt.cfg.watch_compat = o.Get("watchCompat").ToBoolean();
  opt.cfg.watch_open_races = o.Get("watchOpenRaces").ToBoolean();
  opt.pollMs = static_cast<int>(OptU32(o, "pollMs", DEFAULT_POLL_MS));
  opt.batchBytes = OptU32(o, "batchBytes", DEFAULT_BATCH_BYTES);
  if (opt.batchBytes < MIN_BATCH_BYTES) opt.batchBytes = MIN_BATCH_BYTES;
  // Wake the reader early only for a batch's worth, or a quarter ring,
  // whichever comes first; the poll timeout picks up the rest.
  uint32_t wakeDefault = opt.cfg.ring_bytes / 4;
  if (wakeDefault > opt.batchBytes) wakeDefault = static_cast<uint32_t>(opt.batchBytes);
  opt.cfg.wakeup_bytes = OptU32(o, "wakeupBytes", wakeDefault);
  return opt;
}

// Rule keys: bytes for comm/exe (string as UTF-8, or a Buffer for byte-exact
// names), 8 host-order bytes for a cgroup id.
std::string RuleKey(Napi::Env env, enum rule_kind kind, Napi::Value key) {
  if (kind == RULE_CGROUP) {
    uint64_t id;
    if (key.IsBigInt()) {
      bool lossless;
      id = key.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) throw Napi::RangeError::New(env, "cgroup id must fit in 64 bits");
    } else if (key.IsNumber()) {
      id = static_cast<uint64_t>(key.As<Napi::Number>().Int64Value());
    } else {
      throw Napi::TypeError::New(env, "a cgroup rule key must be a bigint");
    }
    return std::string(reinterpret_cast<const char *>(&id), sizeof(id));
  }
  std::string bytes;
  if (key.IsBuffer()) {
    auto b = key.As<Napi::Buffer<char>>();
    bytes.assign(b.Data(), b.Length());
  } else if (key.IsString()) {
    bytes = key.As<Napi::String>().Utf8Value();
  } else {
    throw Napi::TypeError::New(env, "a comm or exe rule key must be a string or Buffer");
  }
  size_t max = kind == RULE_COMM ? COMM_LEN - 1 : EXE_RULE_LEN - 1;
  if (bytes.empty() || bytes.size() > max)
    throw Napi::RangeError::New(env, std::string(kind == RULE_COMM ? "comm" : "exe") + " rule key must be 1.." +
                                         std::to_string(max) + " bytes, got " + std::to_string(bytes.size()));
  return bytes;
}

enum rule_kind RuleKind(Napi::Env env, Napi::Value v) {
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "comm") return RULE_COMM;
    if (s == "exe") return RULE_EXE;
    if (s == "cgroup") return RULE_CGROUP;
  }
  throw Napi::TypeError::New(env, "rule kind must be 'comm', 'exe' or 'cgroup'");
}

uint32_t ArgU32(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().Uint32Value();
}

// A process start time (boot ns): a bigint, or undefined for 0.
uint64_t ArgStartNs(const Napi::CallbackInfo &info, size_t i) {
  if (info[i].IsUndefined() || info[i].IsNull()) return 0;
  if (!info[i].IsBigInt()) throw Napi::TypeError::New(info.Env(), "startNs must be a bigint");
  bool lossless;
  uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(info.Env(), "startNs must fit in 64 bits");
  return v;
}

class KernelSensor : public Napi::ObjectWrap<KernelSensor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "KernelSensor",
                       {
                           InstanceMethod<&KernelSensor::Start>("start"),
                           InstanceMethod<&KernelSensor::Stop>("stop"),
                           InstanceMethod<&KernelSensor::SetRule>("setRule"),
                           InstanceMethod<&KernelSensor::DeleteRule>("deleteRule"),
                           InstanceMethod<&KernelSensor::Track>("track"),
                           InstanceMethod<&KernelSensor::Untrack>("untrack"),
                           InstanceMethod<&KernelSensor::TrackedAgent>("trackedAgent"),
                           InstanceMethod<&KernelSensor::TrackedEntry>("trackedEntry"),
                           InstanceMethod<&KernelSensor::Decide>("decide"),
                           InstanceMethod<&KernelSensor::Counters>("counters"),
                           InstanceMethod<&KernelSensor::Unavailable>("unavailable"),
                           InstanceMethod<&KernelSensor::IdleThreads>("idleThreads"),
                           InstanceMethod<&KernelSensor::Priority>("priority"),
                           InstanceMethod<&KernelSensor::Alive>("alive"),
                       });
  }

  KernelSensor(const Napi::CallbackInfo &info) : Napi::ObjectWrap<KernelSensor>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "new KernelSensor(options, onBatch): options must be an object");
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "new KernelSensor(options, onBatch): onBatch must be a function");
    opt_ = ParseOptions(info[0].As<Napi::Object>());
    onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
  }

  ~KernelSensor() override { Shutdown(); }

  // Runs on the main thread for every batch, or with env == nullptr for
  // batches still queued when the function is torn down (process exit).
  void Receive(Napi::Env env, Napi::Function onBatch, Batch *batch) {
    if (env == nullptr || onBatch.IsEmpty()) {
      stats_.CountDropped(*batch);
      Batch::Destroy(batch);
      return;
    }
    std::unique_ptr<Batch, void (*)(Batch *)> owned(batch, Batch::Destroy);
    // A copy, not an external Buffer adopting the batch: measured cheaper
    // (139 vs 215 ns of process CPU per event, 1M opens; README), because
    // the batch is freed at once and its warm pages are reused by the
    // next one, where adopted memory waits for a GC and every new batch
    // starts on fresh, faulting pages.
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env, batch->data, batch->len);
    consumed_.fetch_add(1, std::memory_order_release);
    delivered_ += batch->records;
    owned.reset();
    batches_++;
    try {
      onBatch.Call({buf});
    } catch (const Napi::Error &e) {
      // Node 20 only warns about an exception left pending by a thread-safe
      // call and carries on; a throwing onBatch is a bug the process must
      // hear about, as 'uncaughtException' like any other callback's.
      napi_fatal_exception(env, e.Value());
    }
  }

 private:
  void Start(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (running_) return;
    loader_ = loader_new();
    if (!loader_) throw ErrnoError(env, ENOMEM, "out of memory");
    ResetCounts();
    tsfn_ = BatchTsfn::New(env, onBatch_.Value(), "agent-sensor ring batches", QUEUE_BATCHES, 1, this,
                           [](Napi::Env, void *, KernelSensor *self) { self->Unref(); });
    Ref();  // the thread-safe function's finalizer drops this
    reader_ = std::make_unique<RingReader>(
        loader_, [this](Batch *b) { return HandOver(b); }, &stats_, opt_.pollMs, opt_.batchBytes,
        [this]() {
          uint64_t now = MonotonicNs();
          policy_.Tick(BehindSinceNs(now), now);
        });
    int err = loader_start(loader_, &opt_.cfg, RingReaderOnRecord, reader_.get());
    RememberUnavailable();
    if (err) {
      std::string msg = loader_error(loader_);
      reader_.reset();
      loader_destroy(loader_);
      loader_ = nullptr;
      tsfn_.Release();
      throw ErrnoError(env, err, msg);
    }
    reader_->Start();
    running_ = true;
    napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  }

  void Stop(const Napi::CallbackInfo &info) {
    if (!running_) return;
    napi_remove_env_cleanup_hook(info.Env(), OnEnvCleanup, this);
    Shutdown();
  }

  static void OnEnvCleanup(void *arg) { static_cast<KernelSensor *>(arg)->Shutdown(); }

  // Order matters: no new records (detach), last drain and join (reader),
  // final counters while the maps exist, then let queued batches reach JS
  // (Release) before the objects go.
  void Shutdown() {
    if (!running_) return;
    running_ = false;
    policy_.Release();
    loader_detach(loader_);
    reader_->Stop();
    ReadKernelCounters();
    reader_.reset();
    tsfn_.Release();
    loader_destroy(loader_);
    loader_ = nullptr;
  }

  // Reader thread. The hand-over time is written before the batch is
  // queued, so JS can never have taken more batches than were handed over.
  bool HandOver(Batch *b) {
    handedAt_[handed_ % HANDED_SLOTS] = MonotonicNs();
    handed_.fetch_add(1, std::memory_order_release);
    if (tsfn_.NonBlockingCall(b) == napi_ok) return true;
    handed_.fetch_sub(1, std::memory_order_release);
    return false;
  }

  // Reader thread: since when JS is behind, 0 if it is not. Behind: a batch
  // handed over and not taken yet (since its hand-over), or no alive() from
  // JS when one was due (since it was due).
  uint64_t BehindSinceNs(uint64_t now) {
    uint64_t taken = consumed_.load(std::memory_order_acquire);
    uint64_t handed = handed_.load(std::memory_order_relaxed);
    uint64_t since = taken >= handed ? 0 : handedAt_[taken % HANDED_SLOTS];
    uint64_t alive = aliveNs_.load(std::memory_order_relaxed);
    if (alive != 0 && now > alive + ALIVE_EVERY_NS && (since == 0 || alive + ALIVE_EVERY_NS < since))
      since = alive + ALIVE_EVERY_NS;
    return since;
  }

  // alive(): JS runs and keeps up with what it has to do (called at least every ALIVE_EVERY_NS).
  void Alive(const Napi::CallbackInfo &) { aliveNs_.store(MonotonicNs(), std::memory_order_relaxed); }

  // idleThreads(tids): these threads at SCHED_IDLE, raised while JS is behind (thread_policy.h).
  void IdleThreads(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) throw Napi::TypeError::New(env, "idleThreads(tids): tids must be an array");
    RequireRunning(env);
    Napi::Array a = info[0].As<Napi::Array>();
    std::vector<pid_t> tids;
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsNumber()) throw Napi::TypeError::New(env, "idleThreads(tids): every tid must be a number");
      tids.push_back(static_cast<pid_t>(v.As<Napi::Number>().Int32Value()));
    }
    policy_.SetThreads(tids);
  }

  Napi::Value Priority(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    ThreadPolicy::Counters c = policy_.Read();
    Napi::Object o = Napi::Object::New(env);
    o.Set("enabled", c.enabled);
    o.Set("boosted", c.boosted);
    o.Set("threads", static_cast<double>(c.threads));
    o.Set("boosts", static_cast<double>(c.boosts));
    o.Set("boostedMs", static_cast<double>(c.boostedNs) / 1e6);
    o.Set("lastError", c.lastError);
    o.Set("boostAfterMs", static_cast<double>(BOOST_AFTER_NS) / 1e6);
    o.Set("aliveEveryMs", static_cast<double>(ALIVE_EVERY_NS) / 1e6);
    return o;
  }

  void RequireRunning(Napi::Env env) {
    if (!running_) throw ErrnoError(env, ENOTCONN, "the sensor is not started");
  }

  void Check(Napi::Env env, int err) {
    if (err) throw ErrnoError(env, err, loader_error(loader_));
  }

  void SetRule(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    enum rule_kind kind = RuleKind(env, info[0]);
    std::string key = RuleKey(env, kind, info[1]);
    uint32_t agent = ArgU32(info, 2, "agentId");
    RequireRunning(env);
    Check(env, loader_set_rule(loader_, kind, key.data(), key.size(), agent,
                               info[3].ToBoolean() ? RULEF_CANDIDATE : 0));
  }

  void DeleteRule(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    enum rule_kind kind = RuleKind(env, info[0]);
    std::string key = RuleKey(env, kind, info[1]);
    RequireRunning(env);
    Check(env, loader_delete_rule(loader_, kind, key.data(), key.size()));
  }

  void Track(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint32_t tgid = ArgU32(info, 0, "tgid"), agent = ArgU32(info, 1, "agentId");
    RequireRunning(env);
    uint64_t start = ArgStartNs(info, 3);
    uint32_t root = info[4].IsUndefined() ? 0 : ArgU32(info, 4, "agentPid");
    Check(env, loader_track(loader_, tgid, agent, info[2].ToBoolean() ? RULEF_CANDIDATE : 0, start, root));
  }

  // decide(tgid, startNs, expectAgentPid, agentId, newAgentPid) -> 'ok' | 'gone' | 'stale'
  Napi::Value Decide(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint32_t tgid = ArgU32(info, 0, "tgid");
    uint64_t start = ArgStartNs(info, 1);
    uint32_t expectRoot = ArgU32(info, 2, "expectAgentPid"), agent = ArgU32(info, 3, "agentId");
    uint32_t newRoot = info[4].IsUndefined() ? 0 : ArgU32(info, 4, "newAgentPid");
    RequireRunning(env);
    int err = loader_decide(loader_, tgid, start, expectRoot, agent, newRoot);
    if (err == -ENOENT) return Napi::String::New(env, "gone");
    if (err == -ESTALE) return Napi::String::New(env, "stale");
    Check(env, err);
    return Napi::String::New(env, "ok");
  }

  Napi::Value TrackedEntry(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint32_t tgid = ArgU32(info, 0, "tgid");
    struct tracked_proc v {};
    RequireRunning(env);
    int err = loader_tracked_entry(loader_, tgid, &v);
    if (err == -ENOENT) return env.Null();
    Check(env, err);
    Napi::Object o = Napi::Object::New(env);
    o.Set("agentId", Napi::Number::New(env, v.agent_id));
    o.Set("agentPid", Napi::Number::New(env, v.agent_pid));
    o.Set("startNs", Napi::BigInt::New(env, static_cast<uint64_t>(v.start_ns)));
    o.Set("flags", Napi::Number::New(env, v.flags));
    return o;
  }

  void Untrack(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint32_t tgid = ArgU32(info, 0, "tgid");
    RequireRunning(env);
    Check(env, loader_untrack(loader_, tgid));
  }

  Napi::Value TrackedAgent(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    uint32_t tgid = ArgU32(info, 0, "tgid"), agent = 0;
    RequireRunning(env);
    int err = loader_tracked_agent(loader_, tgid, &agent);
    if (err == -ENOENT) return env.Null();
    Check(env, err);
    return Napi::Number::New(env, agent);
  }

  Napi::Value Counters(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (running_) ReadKernelCounters();
    Napi::Object o = Napi::Object::New(env);
    o.Set("truncated", static_cast<double>(kernel_[COUNTER_TRUNCATED]));
    o.Set("pendingFull", static_cast<double>(kernel_[COUNTER_PENDING_FULL]));
    o.Set("trackedFull", static_cast<double>(kernel_[COUNTER_TRACKED_FULL]));
    // lost[t]: records of type t that never reached JS, wherever they were
    // lost (ring full in the kernel, or the queue to JS full).
    Napi::Array lost = Napi::Array::New(env, LOST_TYPES);
    double total = 0;
    for (size_t t = 0; t < LOST_TYPES; t++) {
      double n = static_cast<double>(kernel_[COUNTER_LOST_BASE + t] + stats_.droppedByType[t]);
      lost.Set(static_cast<uint32_t>(t), n);
      total += n;
    }
    o.Set("lost", lost);
    o.Set("lostTotal", total);
    o.Set("delivered", static_cast<double>(delivered_));
    o.Set("batches", static_cast<double>(batches_));
    o.Set("queueDropped", static_cast<double>(stats_.queueDropped));
    o.Set("malformed", static_cast<double>(stats_.malformed));
    o.Set("pollError", stats_.pollError.load());
    o.Set("staleTracked", static_cast<double>(kernel_[COUNTER_STALE]));
    o.Set("restarted", static_cast<double>(kernel_[COUNTER_RESTARTED]));
    o.Set("compatSyscalls", static_cast<double>(kernel_[COUNTER_COMPAT]));
    // agent id -> processes of it the kernel could not track (non-zero only)
    Napi::Object untracked = Napi::Object::New(env);
    for (size_t a = 0; a < AGENT_SLOTS; a++)
      if (untracked_[a]) untracked.Set(static_cast<uint32_t>(a), static_cast<double>(untracked_[a]));
    o.Set("agentUntracked", untracked);
    return o;
  }

  Napi::Value Unavailable(const Napi::CallbackInfo &info) {
    Napi::Array a = Napi::Array::New(info.Env(), unavailable_.size());
    for (size_t i = 0; i < unavailable_.size(); i++) a.Set(static_cast<uint32_t>(i), unavailable_[i]);
    return a;
  }

  void ReadKernelCounters() {
    uint64_t now[COUNTER_MAX] = {};
    if (loader_read_counters(loader_, now, COUNTER_MAX) == 0) std::memcpy(kernel_, now, sizeof(now));
    // Only worth the AGENT_SLOTS lookups once the kernel said a track failed.
    if (kernel_[COUNTER_TRACKED_FULL]) {
      std::vector<uint64_t> per(AGENT_SLOTS);
      if (loader_read_agent_untracked(loader_, per.data(), per.size()) == 0) untracked_ = per;
    }
  }

  void RememberUnavailable() {
    unavailable_.clear();
    for (size_t i = 0; i < loader_unavailable_count(loader_); i++)
      unavailable_.emplace_back(loader_unavailable_name(loader_, i));
  }

  // Each start() reports its own run; batches of an earlier run still in
  // flight when start() is called again count towards the new one.
  void ResetCounts() {
    std::memset(kernel_, 0, sizeof(kernel_));
    untracked_.assign(AGENT_SLOTS, 0);
    delivered_ = 0;
    batches_ = 0;
    stats_.queueDropped = 0;
    stats_.malformed = 0;
    stats_.pollError = 0;
    for (auto &d : stats_.droppedByType) d = 0;
  }

  Options opt_;
  Napi::FunctionReference onBatch_;
  BatchTsfn tsfn_;
  sensor_loader *loader_ = nullptr;
  std::unique_ptr<RingReader> reader_;
  ReaderStats stats_;
  ThreadPolicy policy_{BOOST_AFTER_NS};
  std::atomic<uint64_t> handed_{0};    // batches queued for JS (reader thread writes)
  std::atomic<uint64_t> consumed_{0};  // batches JS took (main thread writes)
  std::atomic<uint64_t> aliveNs_{0};   // JS's last alive(), 0: never said
  uint64_t handedAt_[HANDED_SLOTS] = {};
  uint64_t kernel_[COUNTER_MAX] = {};
  std::vector<uint64_t> untracked_ = std::vector<uint64_t>(AGENT_SLOTS);
  uint64_t delivered_ = 0;  // main thread only
  uint64_t batches_ = 0;    // main thread only
  std::vector<std::string> unavailable_;
  bool running_ = false;
};

void CallJs(Napi::Env env, Napi::Function onBatch, KernelSensor *self, Batch *batch) {
  self->Receive(env, onBatch, batch);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("KernelSensor", KernelSensor::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(agent_sensor, Init)
