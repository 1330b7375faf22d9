// A set that forgets its oldest members past a size: dedup state for
// transcripts that run for days must not grow without bound.
export class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly max: number) {}

  /** false when already present */
  add(key: string): boolean {
    if (this.items.has(key)) return false;
    this.items.add(key);
    if (this.items.size > this.max) this.items.delete(this.items.values().next().value as string);
    return true;
  }
}
