/**
 * libiscsi's command-line tools (Debian `libiscsi-bin`): the peer initiator used to cross-check
 * our results and as the benchmark baseline. Installs the package when missing.
 */
import { execFile } from "node:child_process"
import { ensureInstalled } from "./Tgt.ts"

export const ensure = (): void => ensureInstalled([{ cmd: "iscsi-ls", pkg: "libiscsi-bin" }])

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run one libiscsi tool with a timeout (iscsi-perf runs forever: its last line is the figure). */
export const run = (tool: string, args: ReadonlyArray<string>, timeoutMs = 30_000): Promise<Result> =>
  new Promise((resolve) => {
    ensure()
    execFile(
      tool,
      [...args],
      { timeout: timeoutMs, killSignal: "SIGINT", maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code =
          err === null
            ? 0
            : typeof (err as { code?: unknown }).code === "number"
              ? (err as { code: number }).code
              : null
        resolve({ code, stdout: String(stdout), stderr: String(stderr) })
      }
    )
  })

/** `iscsi-ls -s URL`: parsed into target names with their LUN lines. */
export const ls = async (
  portal: string,
  extra: ReadonlyArray<string> = []
): Promise<Array<{ target: string; luns: Array<string> }>> => {
  const r = await run("iscsi-ls", ["-s", ...extra, `iscsi://${portal}/`])
  if (r.code !== 0) throw new Error(`iscsi-ls failed (${r.code}): ${r.stderr}`)
  const out: Array<{ target: string; luns: Array<string> }> = []
  for (const line of r.stdout.split("\n")) {
    const t = /^Target:(\S+)/.exec(line)
    if (t) out.push({ target: t[1]!, luns: [] })
    else if (/^Lun:/.test(line.trim()) && out.length > 0) out[out.length - 1]!.luns.push(line.trim())
  }
  return out
}
