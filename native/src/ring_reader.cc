// SPDX-License-Identifier: Apache-2.0
#include "ring_reader.h"

#include <pthread.h>

#include <cerrno>

RingReader::RingReader(sensor_loader *loader, Deliver deliver, ReaderStats *stats, int pollMs,
                       size_t batchBytes, OnRound onRound)
    : loader_(loader),
      deliver_(std::move(deliver)),
      onRound_(std::move(onRound)),
      stats_(stats),
      pollMs_(pollMs),
      batchBytes_(batchBytes) {}

RingReader::~RingReader() {
  Stop();
  Batch::Destroy(batch_);
}

void RingReader::Start() {
  stop_ = false;
  thread_ = std::thread(&RingReader::Run, this);
}

void RingReader::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
}

void RingReader::Run() {
  // Named so the sensor can tell it from its background threads: this one
  // keeps normal priority (sensor/thread-priority.ts), the ring must not wait.
  pthread_setname_np(pthread_self(), "ring-reader");
  while (!stop_.load(std::memory_order_relaxed)) {
    int n = loader_poll(loader_, pollMs_);
    if (n < 0 && n != -EINTR) {
      stats_->pollError = n;
      break;
    }
    // Hand over what this round found: a quiet sensor still delivers
    // within one poll interval.
    Flush(false);
    if (onRound_) onRound_();
  }
  loader_consume(loader_);
  Flush(true);
}

// When JS is behind (queue full), a batch with room left is kept and
// grows with the next round instead of being dropped; only a full batch,
// or the last one at stop, is lost (and counted) for want of a taker.
void RingReader::Flush(bool mustEmpty) {
  if (!batch_ || batch_->records == 0) return;
  if (deliver_(batch_)) {
    batch_ = nullptr;
    return;
  }
  if (!mustEmpty && batch_->len < batch_->cap) return;
  stats_->CountDropped(*batch_);
  Batch::Destroy(batch_);
  batch_ = nullptr;
}

int RingReader::OnRecord(const void *data, size_t size) {
  // The kernel may reserve more than it fills (a fixed-size reservation);
  // hdr.size is what the record really uses and what a reader walks by.
  // The ring pads every record to 8 bytes, so that much is readable.
  const size_t readable = (size + 7) & ~size_t(7);
  if (size < sizeof(event_header)) {
    stats_->malformed++;
    return 0;
  }
  const uint32_t rec = static_cast<const event_header *>(data)->size;
  if (rec < sizeof(event_header) || rec > readable || rec % 8 != 0) {
    stats_->malformed++;
    return 0;
  }
  if (batch_ && !batch_->Fits(rec)) Flush(true);
  if (!batch_) {
    batch_ = Batch::Create(rec > batchBytes_ ? rec : batchBytes_);
    if (!batch_) {  // out of memory: this record is lost, and counted
      stats_->queueDropped++;
      uint16_t type = static_cast<const event_header *>(data)->type;
      if (type < LOST_TYPES) stats_->droppedByType[type]++;
      return 0;
    }
  }
  batch_->Append(data, rec);
  if (batch_->len == batch_->cap) Flush(true);
  return 0;
}

int RingReaderOnRecord(void *ctx, const void *data, size_t size) {
  return static_cast<RingReader *>(ctx)->OnRecord(data, size);
}
