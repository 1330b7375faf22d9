// Server-Sent Events (text/event-stream, WHATWG HTML 9.2) split into events.
// Model APIs stream their answers this way; the parser takes the whole body
// kept so far, so a cut stream yields the events before the cut.

export interface SseEvent {
  /** the `event:` field, or 'message' */
  event: string;
  data: string;
  id?: string;
}

export const MAX_SSE_EVENTS = 100_000;

export function parseSse(text: string, maxEvents = MAX_SSE_EVENTS): { events: SseEvent[]; complete: boolean } {
  const events: SseEvent[] = [];
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  const lines = text.split(/\r\n|\r|\n/);
  // The last piece has no line end: an event still being written.
  const complete = lines[lines.length - 1] === '';
  if (complete) lines.pop();
  for (const line of lines) {
    if (line === '') {
      if (data.length > 0) events.push({ event: event || 'message', data: data.join('\n'), ...(id !== undefined ? { id } : {}) });
      if (events.length >= maxEvents) return { events, complete: false };
      event = ''; data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
  }
  // A final event without its blank line was not dispatched by a browser
  // either; keep it (marked incomplete) since a cut capture ends that way.
  if (data.length > 0) events.push({ event: event || 'message', data: data.join('\n'), ...(id !== undefined ? { id } : {}) });
  return { events, complete: complete && data.length === 0 };
}
