// SPDX-License-Identifier: Apache-2.0
//
// The thread that drains the kernel ring buffer into batches. It knows the
// loader and a Deliver callback, not Node: the addon supplies a Deliver
// that queues the batch for JS without blocking, so a slow JS consumer costs
// counted batches, never a stalled ring (which would cost kernel drops that
// are counted too, but hit every process we watch).
#ifndef AGENT_SENSOR_RING_READER_H
#define AGENT_SENSOR_RING_READER_H

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "batch.h"
#include "loader.h"

// Per-type loss index range reported to JS (lost[0..LOST_TYPES-1]).
constexpr size_t LOST_TYPES = 16;

struct ReaderStats {
  std::atomic<uint64_t> queueDropped{0};   // records in batches JS never got
  std::array<std::atomic<uint64_t>, LOST_TYPES> droppedByType{};
  std::atomic<uint64_t> malformed{0};      // records whose hdr.size disagrees with the ring
  std::atomic<int> pollError{0};           // -errno that ended the reader, 0 if none

  void CountDropped(const Batch &b) {
    queueDropped += b.records;
    b.ForEachType([this](uint16_t type) {
      if (type < LOST_TYPES) droppedByType[type]++;
    });
  }
};

class RingReader {
 public:
  // Takes ownership of the batch when it returns true; on false (queue
  // full, or shutting down) the reader still owns it.
  using Deliver = std::function<bool(Batch *)>;

  // Called on the reader thread after every poll round (at least every pollMs).
  using OnRound = std::function<void()>;

  RingReader(sensor_loader *loader, Deliver deliver, ReaderStats *stats, int pollMs,
             size_t batchBytes, OnRound onRound = nullptr);
  ~RingReader();

  void Start();
  // Joins the thread after a last drain of the ring. Detach the programs
  // first so that drain is really the last record.
  void Stop();

  // Called from the loader's ring callback on the reader thread.
  int OnRecord(const void *data, size_t size);

 private:
  void Run();
  void Flush(bool mustEmpty);

  sensor_loader *loader_;
  Deliver deliver_;
  OnRound onRound_;
  ReaderStats *stats_;
  int pollMs_;
  size_t batchBytes_;
  Batch *batch_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Trampoline with the loader_record_fn signature; ctx is the RingReader.
int RingReaderOnRecord(void *ctx, const void *data, size_t size);

#endif  // AGENT_SENSOR_RING_READER_H
