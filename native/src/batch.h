// SPDX-License-Identifier: Apache-2.0
//
// A batch: ring records laid end to end exactly as the kernel wrote them,
// each starting with struct event_header whose `size` is its length. The
// reader fills it; the main thread copies it into a JS Buffer and frees it.
#ifndef AGENT_SENSOR_BATCH_H
#define AGENT_SENSOR_BATCH_H

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "events.h"

struct Batch {
  uint8_t *data = nullptr;
  size_t len = 0;
  size_t cap = 0;
  uint32_t records = 0;

  // nullptr when out of memory.
  static Batch *Create(size_t cap) {
    Batch *b = new Batch();
    b->data = static_cast<uint8_t *>(std::malloc(cap));
    if (!b->data) {
      delete b;
      return nullptr;
    }
    b->cap = cap;
    return b;
  }

  static void Destroy(Batch *b) {
    if (!b) return;
    std::free(b->data);
    delete b;
  }

  bool Fits(size_t n) const { return cap - len >= n; }

  void Append(const void *rec, size_t n) {
    std::memcpy(data + len, rec, n);
    len += n;
    records++;
  }

  // Calls fn(type) for each record; used to account a dropped batch by type.
  template <typename Fn>
  void ForEachType(Fn fn) const {
    size_t off = 0;
    while (len - off >= sizeof(event_header)) {
      const auto *h = reinterpret_cast<const event_header *>(data + off);
      fn(h->type);
      off += h->size;
    }
  }
};

#endif  // AGENT_SENSOR_BATCH_H
