// Reads struct and enum layouts out of BTF with bpftool, for tests that hold
// the TypeScript view of bpf/events.h against what the compiler produced.
import { execFileSync } from 'node:child_process';

interface BtfMember { name: string; type_id: number; bits_offset: number }
interface BtfType {
  id: number; kind: string; name: string; size?: number; type_id?: number; nr_elems?: number;
  members?: BtfMember[]; values?: { name: string; val: number }[];
}

export interface BtfStruct { size: number; fields: Record<string, { offset: number; size: number }> }

export interface BtfLayouts {
  structs: Map<string, BtfStruct>;
  enums: Map<string, Record<string, number>>;
}

/** Struct and enum layouts from the BTF of an ELF object (or a raw BTF file). */
export function readBtf(objectPath: string): BtfLayouts {
  const json = execFileSync('bpftool', ['btf', 'dump', 'file', objectPath, '-j'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const types: BtfType[] = JSON.parse(json).types;
  const byId = new Map(types.map((t) => [t.id, t]));
  const sizeOf = (id: number): number => {
    const t = byId.get(id);
    if (!t) return 0;
    if (t.kind === 'ARRAY') return (t.nr_elems ?? 0) * sizeOf(t.type_id!);
    if (t.size !== undefined) return t.size;
    if (t.type_id !== undefined) return sizeOf(t.type_id); // TYPEDEF, CONST, VOLATILE
    return 0;
  };
  const structs = new Map<string, BtfStruct>();
  const enums = new Map<string, Record<string, number>>();
  for (const t of types) {
    if (t.kind === 'STRUCT' && t.name && !structs.has(t.name)) {
      const fields: BtfStruct['fields'] = {};
      for (const m of t.members ?? []) fields[m.name] = { offset: m.bits_offset / 8, size: sizeOf(m.type_id) };
      structs.set(t.name, { size: t.size!, fields });
    }
    if (t.kind === 'ENUM' && t.name && t.values) {
      enums.set(t.name, Object.fromEntries(t.values.map((v) => [v.name, v.val])));
    }
  }
  return { structs, enums };
}

export function haveTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
