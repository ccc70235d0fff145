/**
 * Just enough of Docker to check the Dockerfile without a Docker engine: a parser of the Dockerfile
 * syntax the project uses, the .dockerignore rules, and a replay of the stages in plain directories
 * (each stage a directory standing for its root filesystem, RUN steps run with the host's npm).
 * Anything the replay does not understand is an error, so the Dockerfile cannot drift from it.
 */
import { execFile } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, posix } from 'node:path';

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  keyword: string;
  /** `--name=value` options before the arguments (COPY --from, HEALTHCHECK --interval, ...). */
  flags: Record<string, string>;
  /** The rest of the line with continuations joined. */
  rest: string;
  /** Exec form ("[...]") parsed, or undefined for shell form. */
  exec?: string[];
  line: number;
}

export interface Stage {
  name: string;
  /** Base image after ARG substitution. */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARG defaults declared before the first FROM. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Splits the file into instructions: comments dropped, backslash continuations joined. */
export function parseInstructions(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let buffer = '';
  let start = 0;
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line)) return; // comments, also inside a continuation, as Docker drops them
    if (buffer === '' && line.trim() === '') return;
    if (buffer === '') start = index + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1)} `;
      return;
    }
    buffer += line;
    instructions.push(toInstruction(buffer.trim(), start));
    buffer = '';
  });
  if (buffer.trim() !== '')
    throw new Error(`Dockerfile ends inside a continuation (line ${start})`);
  return instructions;
}

function toInstruction(text: string, line: number): Instruction {
  const match = /^(\S+)\s*(.*)$/s.exec(text);
  if (!match) throw new Error(`line ${line}: cannot parse "${text}"`);
  const keyword = match[1]!.toUpperCase();
  let rest = match[2]!.trim();
  const flags: Record<string, string> = {};
  let flag: RegExpExecArray | null;
  while ((flag = /^--([a-z-]+)=(\S*)\s*/.exec(rest)) !== null) {
    flags[flag[1]!] = flag[2]!;
    rest = rest.slice(flag[0].length);
  }
  const instruction: Instruction = { keyword, flags, rest, line };
  const body = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/, '') : rest;
  if (['RUN', 'CMD', 'ENTRYPOINT', 'HEALTHCHECK'].includes(keyword) && body.startsWith('[')) {
    const parsed: unknown = JSON.parse(body);
    if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string')) {
      throw new Error(`line ${line}: exec form must be a JSON array of strings`);
    }
    instruction.exec = parsed as string[];
  }
  return instruction;
}

/** `${NAME}` and `$NAME` from vars; unknown names become empty, as in Docker. */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, braced?: string, bare?: string) => vars[braced ?? bare ?? ''] ?? '',
  );
}

/** `A=1 B="two words"` into pairs (ENV and LABEL). */
export function parsePairs(text: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  const re = /([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S*)\s*/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = re.exec(text)) !== null && match[0] !== '') {
    const value = match[2]!;
    pairs[match[1]!] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
    consumed = re.lastIndex;
  }
  if (consumed !== text.length) throw new Error(`cannot parse key=value pairs: "${text}"`);
  return pairs;
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.rest);
      if (!match) throw new Error(`line ${instruction.line}: cannot parse FROM`);
      stages.push({
        from: substitute(match[1]!, globalArgs),
        name: match[2] ?? String(stages.length),
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') {
        throw new Error(`line ${instruction.line}: only ARG may come before FROM`);
      }
      const [name = '', value = ''] = instruction.rest.split('=');
      globalArgs[name] = value;
    } else {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

// ---- .dockerignore -----------------------------------------------------------------------------

interface IgnoreRule {
  negate: boolean;
  regex: RegExp;
}

/** Docker's matching: Go filepath.Match per path segment, `**` for any number of segments. */
function globToRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        out += '(?:.*/)?';
      } else out += '.*';
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = posix
        .normalize((negate ? line.slice(1) : line).trim())
        .replace(/^\/+/, '')
        .replace(/\/+$/, '');
      return { negate, regex: globToRegex(pattern) };
    });
}

/** Whether a context path (forward slashes, relative) is left out: the last matching rule wins,
 * and a rule matches a path when it matches the path or one of its parent directories. */
export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_p, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (prefixes.some((prefix) => rule.regex.test(prefix))) ignored = !rule.negate;
  }
  return ignored;
}

// ---- replay ------------------------------------------------------------------------------------

export interface ReplayedStage {
  name: string;
  from: string;
  /** Directory standing for the stage's root filesystem. */
  root: string;
  /** WORKDIR inside the image, e.g. /app. */
  workdir: string;
  env: Record<string, string>;
  args: Record<string, string>;
  labels: Record<string, string>;
  user?: string;
  expose: string[];
  entrypoint?: string[];
  cmd?: string[];
  healthcheck?: { flags: Record<string, string>; exec: string[] };
  /** The RUN commands as replayed (after splitting on &&), and the ones deliberately skipped. */
  ran: string[];
  skipped: string[];
}

export interface ReplayOptions {
  context: string;
  /** Directory under which each stage gets a root directory named after it. */
  workRoot: string;
  /** Extra arguments for every replayed `npm ci` (e.g. --prefer-offline). */
  npmCiExtra?: string[];
  timeoutMs?: number;
}

/** RUN commands replayed with the host's tools. */
const REPLAYED = [/^npm ci(?: --[a-z-]+(?:=\S+)?)*$/, /^npm run build$/];
/** RUN commands that only shrink the image; run here they would wipe the host's npm cache. */
const SKIPPED = [/^npm cache clean --force$/];

function run(command: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<void>((resolve, reject) => {
    execFile(
      command[0]!,
      command.slice(1),
      { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `${command.join(' ')} failed in ${cwd}: ${error.message}\n${stdout}${stderr}`,
            ),
          );
        } else resolve();
      },
    );
  });
}

function inside(root: string, imagePath: string): string {
  return join(root, posix.normalize(`/${imagePath}`));
}

/** COPY's rules for what the project uses: files into a directory (dest ends with /, or several
 * sources), one file to a path, one directory's contents into a directory. No wildcards. */
function copy(sources: string[], dest: string, fromRoot: string, toRoot: string, workdir: string) {
  const target = dest.startsWith('/') ? dest : posix.join(workdir, dest);
  const intoDir = dest.endsWith('/') || sources.length > 1;
  for (const source of sources) {
    if (/[*?[]/.test(source)) throw new Error(`COPY wildcards are not replayed: ${source}`);
    const from = inside(fromRoot, source);
    if (!existsSync(from)) throw new Error(`COPY source ${source} is not in ${fromRoot}`);
    const isDir = statSync(from).isDirectory();
    const to = inside(toRoot, intoDir && !isDir ? posix.join(target, basename(source)) : target);
    mkdirSync(isDir ? to : join(to, '..'), { recursive: true });
    cpSync(from, to, { recursive: true });
  }
}

export async function replay(
  dockerfile: Dockerfile,
  options: ReplayOptions,
): Promise<Map<string, ReplayedStage>> {
  const stages = new Map<string, ReplayedStage>();
  const timeoutMs = options.timeoutMs ?? 300_000;
  for (const stage of dockerfile.stages) {
    const replayed: ReplayedStage = {
      name: stage.name,
      from: stage.from,
      root: join(options.workRoot, stage.name),
      workdir: '/',
      env: {},
      args: {},
      labels: {},
      expose: [],
      ran: [],
      skipped: [],
    };
    mkdirSync(replayed.root, { recursive: true });
    stages.set(stage.name, replayed);
    const vars = () => ({ ...replayed.args, ...replayed.env });
    for (const ins of stage.instructions) {
      const where = `line ${ins.line} (${ins.keyword})`;
      switch (ins.keyword) {
        case 'ARG': {
          const eq = ins.rest.indexOf('=');
          const name = eq === -1 ? ins.rest : ins.rest.slice(0, eq);
          replayed.args[name] =
            eq === -1 ? (dockerfile.globalArgs[name] ?? '') : ins.rest.slice(eq + 1);
          break;
        }
        case 'ENV':
          Object.assign(replayed.env, parsePairs(substitute(ins.rest, vars())));
          break;
        case 'LABEL':
          Object.assign(replayed.labels, parsePairs(substitute(ins.rest, vars())));
          break;
        case 'WORKDIR':
          replayed.workdir = posix.resolve(replayed.workdir, substitute(ins.rest, vars()));
          mkdirSync(inside(replayed.root, replayed.workdir), { recursive: true });
          break;
        case 'COPY': {
          const parts = substitute(ins.rest, vars()).split(/\s+/);
          const dest = parts.pop();
          if (dest === undefined || parts.length === 0)
            throw new Error(`${where}: COPY needs a source`);
          const unknown = Object.keys(ins.flags).filter((f) => f !== 'from');
          if (unknown.length > 0) throw new Error(`${where}: COPY --${unknown[0]} is not replayed`);
          const fromStage = ins.flags.from === undefined ? undefined : stages.get(ins.flags.from);
          if (ins.flags.from !== undefined && fromStage === undefined) {
            throw new Error(`${where}: COPY --from=${ins.flags.from} names no earlier stage`);
          }
          copy(parts, dest, fromStage?.root ?? options.context, replayed.root, replayed.workdir);
          break;
        }
        case 'RUN': {
          if (ins.exec) throw new Error(`${where}: exec-form RUN is not replayed`);
          if (Object.keys(ins.flags).length > 0)
            throw new Error(`${where}: RUN flags are not replayed`);
          for (const command of ins.rest.split('&&').map((c) => c.trim().replace(/\s+/g, ' '))) {
            if (SKIPPED.some((re) => re.test(command))) {
              replayed.skipped.push(command);
              continue;
            }
            const directory = /^(mkdir -p|chown (\d+):(\d+)) (\/[\w./-]+)$/.exec(command);
            if (directory) {
              // Absolute paths of the image, made inside the replayed root.
              const path = inside(replayed.root, directory[4]!);
              if (directory[1] === 'mkdir -p') mkdirSync(path, { recursive: true });
              else if (process.getuid?.() === 0)
                chownSync(path, Number(directory[2]), Number(directory[3]));
              replayed.ran.push(command);
              continue;
            }
            if (!REPLAYED.some((re) => re.test(command))) {
              throw new Error(`${where}: "${command}" is not a step the replay knows`);
            }
            const argv = command.split(' ');
            if (argv[1] === 'ci') argv.push(...(options.npmCiExtra ?? []));
            const env = { ...process.env, ...replayed.env };
            await run(argv, inside(replayed.root, replayed.workdir), env, timeoutMs);
            replayed.ran.push(command);
          }
          break;
        }
        case 'USER':
          replayed.user = substitute(ins.rest, vars());
          break;
        case 'EXPOSE':
          replayed.expose.push(...substitute(ins.rest, vars()).split(/\s+/));
          break;
        case 'HEALTHCHECK':
          if (!ins.exec)
            throw new Error(`${where}: HEALTHCHECK must use the exec form (CMD [...])`);
          replayed.healthcheck = { flags: ins.flags, exec: ins.exec };
          break;
        case 'ENTRYPOINT':
          if (!ins.exec) throw new Error(`${where}: ENTRYPOINT must use the exec form`);
          replayed.entrypoint = ins.exec;
          break;
        case 'CMD':
          if (!ins.exec) throw new Error(`${where}: CMD must use the exec form`);
          replayed.cmd = ins.exec;
          break;
        default:
          throw new Error(`${where}: instruction not replayed`);
      }
    }
  }
  return stages;
}

export function readDockerfile(path: string): Dockerfile {
  return parseDockerfile(readFileSync(path, 'utf8'));
}
