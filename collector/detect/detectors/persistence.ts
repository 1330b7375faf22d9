// Persistence: the instance writes where code runs later without it. Shell
// start-up files, SSH authorized keys, cron and at spools, systemd units, XDG
// autostart, init scripts, the dynamic loader's preload list, sudoers and the
// account files, PAM, udev rules and module lists. A write is an open for
// writing that succeeded, or a rename or link whose new name is the file
// (`sed -i` renames its copy over the original); git hooks (run at the
// user's next commit in that repository), unless git itself or a hook
// manager writes them; `systemctl enable` and
// `loginctl enable-linger` are judged by their command line (systemd, not the
// agent, makes the links). Agents' own settings files (Claude Code's hooks,
// Codex's notify, approvals) count when a process other than the agent's own
// program writes them: its shell tool, i.e. what a prompt injection drives. `~/` is the instance user's home and any other
// (/root, /home/<user>), as in the sensitive catalogue.
import { z } from 'zod';
import { PathClassifier } from '../../sensitive/classify-path.js';
import { pathGlob, type SensitiveClass } from '../../sensitive/catalogue.js';
import { defineDetector, type JudgedEvent, type ProcInfo, type Severity } from '../detector.js';
import { basename, runsAgentProgram } from './credential-use.js';

const HOOK_MANAGERS = new Set(['husky', 'pre-commit', 'lefthook', 'simple-git-hooks', 'overcommit', 'yorkie', 'ghooks', 'git-hooks', 'captainhook', 'talisman']);

interface Location {
  name: string;
  what: string;
  attack: string;
  severity: Severity;
  paths: string[];
  /** the agent's own program may write it (its own settings); its shell and tools may not */
  ownProgramMay?: boolean;
  /** paths under `paths` that are not the place (a hook's .sample) */
  notPaths?: string[];
  /** writers whose job this is (git itself, a hook manager) */
  writerMay?: (proc: ProcInfo) => boolean;
}

const LOCATIONS: Location[] = [
  {
    name: 'shell-startup', what: 'a shell start-up file', attack: 'T1546.004', severity: 'high',
    paths: ['~/.{bashrc,bash_profile,bash_login,bash_logout,profile,zshrc,zshenv,zprofile,zlogin,zlogout,kshrc,cshrc,tcshrc}',
      '~/.config/fish/{config.fish,conf.d/*}', '/etc/{profile,bash.bashrc,environment,zshrc,zprofile,zshenv}', '/etc/profile.d/*', '/etc/zsh/*'],
  },
  { name: 'x-session', what: 'an X session script', attack: 'T1037', severity: 'high', paths: ['~/.{xprofile,xinitrc,xsession,xsessionrc}'] },
  { name: 'ssh-authorized-keys', what: 'SSH authorized keys', attack: 'T1098.004', severity: 'critical', paths: ['~/.ssh/{authorized_keys,authorized_keys2,rc}', '/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/*'] },
  { name: 'cron', what: 'a cron or at job', attack: 'T1053.003', severity: 'high', paths: ['/etc/crontab', '/etc/cron.{d,hourly,daily,weekly,monthly}/*', '/var/spool/cron/**', '/var/spool/at/**'] },
  {
    name: 'systemd-unit', what: 'a systemd unit', attack: 'T1543.002', severity: 'high',
    paths: ['~/.config/systemd/user/**', '~/.local/share/systemd/user/**', '/etc/systemd/{system,user}/**', '/{usr/,}lib/systemd/{system,user}/**', '/run/systemd/{system,user}/**'],
  },
  { name: 'xdg-autostart', what: 'a desktop autostart entry', attack: 'T1547.013', severity: 'high', paths: ['~/.config/autostart/*', '/etc/xdg/autostart/*'] },
  { name: 'init-script', what: 'an init script', attack: 'T1037.004', severity: 'high', paths: ['/etc/rc.local', '/etc/init.d/*', '/etc/rc[0-6S].d/*'] },
  { name: 'preload', what: "the dynamic loader's preload list", attack: 'T1574.006', severity: 'critical', paths: ['/etc/ld.so.preload', '/etc/ld.so.conf', '/etc/ld.so.conf.d/*'] },
  { name: 'sudoers', what: 'sudo rules', attack: 'T1548.003', severity: 'critical', paths: ['/etc/sudoers', '/etc/sudoers.d/*'] },
  { name: 'accounts', what: 'the account files', attack: 'T1136.001', severity: 'critical', paths: ['/etc/{passwd,shadow,group,gshadow,subuid,subgid}'] },
  { name: 'pam', what: 'a PAM module stack', attack: 'T1556.003', severity: 'critical', paths: ['/etc/pam.d/*', '/etc/security/*.conf'] },
  { name: 'udev', what: 'a udev rule', attack: 'T1546.017', severity: 'high', paths: ['/etc/udev/rules.d/*', '/{usr/,}lib/udev/rules.d/*'] },
  {
    // hooks and notify commands run shell commands on the agent's events; approvals let it run them unasked
    name: 'agent-config', what: "an agent's settings (hooks, notify commands, approvals)", attack: 'T1546', severity: 'high', ownProgramMay: true,
    paths: ['~/.claude/settings{,.local}.json', '**/.claude/settings{,.local}.json', '~/.codex/config.toml', '~/.gemini/settings.json',
      '**/.gemini/settings.json', '~/.qwen/settings.json', '**/.qwen/settings.json'],
  },
  { name: 'kernel-modules', what: 'the modules loaded at boot', attack: 'T1547.006', severity: 'high', paths: ['/etc/modules', '/etc/modules-load.d/*', '/etc/modprobe.d/*'] },
  {
    // runs at the user's next commit, checkout or push, in any repository; git's own samples and the
    // hook managers a project installs (husky, pre-commit, lefthook, simple-git-hooks, …) are their job
    name: 'git-hook', what: 'a git hook', attack: 'T1546', severity: 'high',
    paths: ['**/.git/hooks/*', '~/.config/git/hooks/*'], notPaths: ['**/.git/hooks/*.sample', '**/.git/hooks/*.lock'],
    writerMay: (proc) => /^git(?:-|$)/.test(basename(proc.exe)) ||
      // the program or the script it runs (not a shell's command text, which may name a hook)
      proc.argv.slice(0, 2).some((a) => !/\s/.test(a) && (HOOK_MANAGERS.has(basename(a)) || /\/node_modules\/(?:husky|simple-git-hooks|lefthook|yorkie|ghooks|git-hooks)\//.test(a))),
  },
];

const BY_NAME = new Map(LOCATIONS.map((l) => [l.name, l]));
const asClass = (l: Location, exclude: string[]): SensitiveClass => ({
  name: l.name, description: l.what, attack: [l.attack], paths: l.paths, exclude: [...exclude, ...(l.notPaths ?? [])], consumers: [], scanners: [],
  alertOnRead: false, excludeOwnProcess: false,
});

// One classifier per distinct `exclude` list (agents.yaml may give each agent its own).
const classifiers = new Map<string, PathClassifier>();
function classifierFor(exclude: string[]): PathClassifier {
  const key = JSON.stringify(exclude);
  let c = classifiers.get(key);
  if (!c) {
    c = new PathClassifier(LOCATIONS.map((l) => asClass(l, exclude)));
    classifiers.set(key, c);
  }
  return c;
}

// systemd and logind make these links and lingering sessions, not the agent's process.
const ENABLE_ARGV: { exe: RegExp; verb: RegExp; what: string; attack: string }[] = [
  { exe: /(?:^|\/)systemctl$/, verb: /^(?:enable|reenable|link|preset|edit|add-wants|add-requires)$/, what: 'a systemd unit enabled', attack: 'T1543.002' },
  { exe: /(?:^|\/)loginctl$/, verb: /^enable-linger$/, what: "the user's services kept running after logout", attack: 'T1543.002' },
];

const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

function written(ev: JudgedEvent): { path: string; how: string } | undefined {
  const e = ev.event;
  if (e.type === 'open' && ev.features.file?.op === 'write' && ev.features.file.ok) {
    const how = e.flags & O_APPEND ? 'appended to' : e.flags & O_TRUNC ? 'rewrote' : 'opened for writing';
    return { path: ev.features.file.path, how };
  }
  if ((e.type === 'rename' || e.type === 'link') && ev.features.file2?.ok) {
    const how = e.type === 'rename' ? `renamed ${ev.features.file?.path ?? 'a file'} onto` : e.symbolic ? 'made a symlink at' : 'made a hard link at';
    return { path: ev.features.file2.path, how };
  }
  return undefined;
}

export default defineDetector({
  meta: {
    id: 'persistence',
    title: 'Persistence planted',
    description: 'A write to where code runs later without the agent: shell start-up files, SSH authorized keys, cron/at, systemd units, autostart, init scripts, ld.so.preload, sudoers, account files, PAM, udev, boot modules, git hooks, agents\' settings; systemctl enable and loginctl enable-linger.',
    severity: 'high',
    attack: ['T1546.004', 'T1098.004', 'T1053.003', 'T1543.002', 'T1547.013', 'T1037.004', 'T1574.006', 'T1548.003', 'T1136.001', 'T1556.003', 'T1546.017', 'T1547.006', 'T1546'],
    falsePositives: 'An installer the agent runs on request that edits shell start-up files (nvm, rustup, conda init) or installs a service; list such paths under exclude for that agent.',
    phase: 'always',
    params: z.object({
      /** path globs (as in the sensitive catalogue) never judged, e.g. ["~/.profile"] */
      exclude: z.array(pathGlob).default([]),
    }).strict(),
  },
  newState: () => null,
  onEvent(ev, { agent, params }) {
    const proc = ev.features.proc;
    const who = proc ? `${proc.exe.split('/').pop()} (${proc.argv.join(' ').slice(0, 160)})` : `pid ${ev.event.pid}`;
    if (ev.event.type === 'exec' && proc) {
      const rule = ENABLE_ARGV.find((r) => r.exe.test(proc.exe) && proc.argv.slice(1).some((a) => r.verb.test(a)));
      if (!rule) return undefined;
      return [{ subject: `argv:${proc.argv.slice(0, 4).join(' ')}`, summary: `${agent.name} ran ${proc.argv.join(' ').slice(0, 200)}: ${rule.what} [${rule.attack}]`, evidence: [ev.id] }];
    }
    const w = written(ev);
    if (!w) return undefined;
    const match = classifierFor(params.exclude).classify(w.path, { home: ev.instance.home ?? undefined, cwd: ev.instance.cwd ?? undefined })[0];
    const where = match && BY_NAME.get(match.class);
    if (!where) return undefined;
    if (where.ownProgramMay && runsAgentProgram(ev)) return undefined;
    if (where.writerMay && proc && where.writerMay(proc)) return undefined;
    return [{
      severity: where.severity,
      subject: w.path,
      summary: `${agent.name} ${w.how} ${w.path}, ${where.what} [${where.attack}], by ${who}`,
      evidence: [ev.id],
    }];
  },
});
