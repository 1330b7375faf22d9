// Defence evasion: shell/REPL history or logs truncated, deleted, or linked
// to /dev/null, and HISTFILE/HISTSIZE tricks or `history -c` seen in argv;
// and the machine's own defences switched off by command line: SELinux or
// AppArmor, the firewall (ufw disable, iptables flushed or opened, nft flush),
// the audit system, a security or logging service stopped or killed, a kernel
// hardening setting relaxed. (The sensor's own are sensor_tamper's.)
import { z } from 'zod';
import { defineDetector } from '../detector.js';
import { basename } from './credential-use.js';

const HISTORY = /^\.(?:bash_history|zsh_history|zhistory|histfile|sh_history|ash_history|python_history|node_repl_history|mysql_history|psql_history|sqlite_history|lesshst|irb_history|rediscli_history)$/;
const LOGS = /^\/var\/log\//;
const ARGV_TRICKS = /(?:HISTFILE=(?:\/dev\/null|$|\s)|unset\s+HISTFILE|HISTSIZE=0|HISTFILESIZE=0|history\s+-c|set\s+\+o\s+history|HISTCONTROL=ignorespace)/;
const O_TRUNC = 0o1000;

// Services that watch or defend the machine, and its logs.
const GUARD = /^(?:auditd|apparmor|firewalld|ufw|nftables|iptables|ip6tables|netfilter-persistent|fail2ban|selinux\S*|falcon-sensor|osqueryd|wazuh-agent|ossec|clamav-daemon|clamav-freshclam|falco\S*|tetragon|sysdig\S*|elastic-agent|auditbeat|filebeat|rsyslog|syslog|syslog-ng|systemd-journald|crowdstrike\S*|sentinelone\S*|sentinel\S*|mdatp|wdavdaemon)(?:\.service|\.socket)?$/;
const FIREWALL_CLIS = /^(?:ip6?tables(?:-legacy|-nft)?)$/;

interface Impairment { what: string; attack: string }

/** What a command line switches off of the machine's defences, or undefined. */
function impairment(name: string, args: string[]): Impairment | undefined {
  const has = (...words: string[]) => words.some((w) => args.includes(w));
  if (name === 'setenforce' && has('0', 'Permissive', 'permissive')) return { what: 'SELinux enforcement switched off', attack: 'T1562.001' };
  if (/^aa-(?:teardown|disable|complain)$/.test(name)) return { what: 'AppArmor profiles unloaded or relaxed', attack: 'T1562.001' };
  if (name === 'ufw' && has('disable')) return { what: 'the firewall switched off', attack: 'T1562.004' };
  if (FIREWALL_CLIS.test(name)) {
    if (has('-F', '--flush')) return { what: 'firewall rules flushed', attack: 'T1562.004' };
    const p = args.findIndex((a) => a === '-P' || a === '--policy');
    if (p >= 0 && args[p + 2] === 'ACCEPT') return { what: `the firewall's ${args[p + 1]} policy set to ACCEPT`, attack: 'T1562.004' };
  }
  if (name === 'nft' && args.join(' ').includes('flush ruleset')) return { what: 'firewall rules flushed', attack: 'T1562.004' };
  if (name === 'auditctl' && (has('-D') || args.join(' ').includes('-e 0'))) return { what: 'the audit system switched off or its rules deleted', attack: 'T1562.012' };
  if (name === 'systemctl' && has('stop', 'disable', 'mask', 'kill')) {
    const unit = args.find((a) => GUARD.test(a));
    if (unit) return { what: `${unit} stopped or disabled`, attack: 'T1562.001' };
  }
  if (name === 'service' && GUARD.test(args[0] ?? '') && has('stop')) return { what: `${args[0]} stopped`, attack: 'T1562.001' };
  if ((name === 'pkill' || name === 'killall') && args.some((a) => GUARD.test(a))) return { what: `${args.find((a) => GUARD.test(a))} killed`, attack: 'T1562.001' };
  if (name === 'sysctl') {
    const relaxed = args.find((a) => /^kernel\.(?:yama\.ptrace_scope|kptr_restrict|dmesg_restrict|randomize_va_space)=0$/.test(a.replace(/\s/g, '')));
    if (relaxed) return { what: `a kernel hardening setting relaxed (${relaxed})`, attack: 'T1562.001' };
  }
  return undefined;
}

export default defineDetector({
  meta: {
    id: 'defence_evasion',
    title: 'Traces wiped',
    description: 'Shell history or logs truncated, deleted or linked to /dev/null; HISTFILE/HISTSIZE tricks or history -c in a command line; SELinux, AppArmor, the firewall, the audit system, a security or logging service, or a kernel hardening setting switched off by command line.',
    severity: 'high',
    attack: ['T1070.003', 'T1070.002', 'T1562.003', 'T1562.001', 'T1562.004', 'T1562.012'],
    falsePositives: 'Log rotation run by the agent on request; a user-requested history cleanup; a firewall change the user asked for.',
    phase: 'always',
    params: z.object({}).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent }) {
    const e = ev.event;
    const traced = (p: string) => HISTORY.test(basename(p)) || LOGS.test(p);
    const alert = (subject: string, what: string) => [{ subject, summary: `${agent.name} ${what}`, evidence: [ev.id] }];
    if (e.type === 'open' && e.result >= 0 && (e.flags & O_TRUNC) && ev.features.file && traced(ev.features.file.path)) {
      return alert(ev.features.file.path, `truncated ${ev.features.file.path}`);
    }
    if (e.type === 'unlink' && e.result >= 0 && ev.features.file && traced(ev.features.file.path)) {
      return alert(ev.features.file.path, `deleted ${ev.features.file.path}`);
    }
    if (e.type === 'link' && e.result >= 0 && ev.features.file2 && traced(ev.features.file2.path)) {
      const target = typeof e.path === 'string' ? e.path : '';
      if (target === '/dev/null' || !e.symbolic) return alert(ev.features.file2.path, `linked ${ev.features.file2.path} to ${target || 'another file'}`);
    }
    if (e.type === 'rename' && e.result >= 0 && ev.features.file2 && traced(ev.features.file2.path)) {
      return alert(ev.features.file2.path, `replaced ${ev.features.file2.path} by ${ev.features.file?.path}`);
    }
    if (e.type === 'exec') {
      const argv = ev.features.proc?.argv ?? [];
      const line = argv.join(' ');
      const m = ARGV_TRICKS.exec(line);
      if (m) return alert(`argv:${m[0].trim()}`, `ran a command that hides its history: ${line.slice(0, 200)}`);
      const off = ev.features.proc && impairment(basename(ev.features.proc.exe), argv.slice(1));
      if (off) return alert(`argv:${argv.slice(0, 4).join(' ')}`, `ran ${line.slice(0, 200)}: ${off.what} [${off.attack}]`);
    }
    return undefined;
  },
});
