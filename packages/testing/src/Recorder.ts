/**
 * A recording TCP proxy on loopback, for re-capturing byte-exact goldens from a real server: every
 * connection to `port` is forwarded to the upstream port, and the bytes of each direction are kept
 * per connection, in the chunks they arrived in. `take()` hands over (and forgets) what was
 * recorded so far.
 *
 * Not here: faults (that is `FaultProxy`), parsing anything.
 */
import * as Net from "node:net"

/** One proxied connection: the chunks sent toward the server and those received from it. */
export interface Recorded {
  readonly toServer: Array<Buffer>
  readonly fromServer: Array<Buffer>
}

export interface Recorder {
  readonly port: number
  /** What was recorded since the last call (after a short settle for the last bytes in flight). */
  readonly take: () => Promise<Array<Recorded>>
  readonly close: () => Promise<void>
}

/** Start a recording proxy to 127.0.0.1:`upstreamPort` on a free loopback port. */
export const start = async (upstreamPort: number): Promise<Recorder> => {
  const connections: Array<Recorded> = []
  const sockets = new Set<Net.Socket>()
  const server = Net.createServer((client) => {
    sockets.add(client)
    client.on("close", () => sockets.delete(client))
    const rec: Recorded = { toServer: [], fromServer: [] }
    connections.push(rec)
    const upstream = Net.connect(upstreamPort, "127.0.0.1")
    client.on("data", (d) => {
      rec.toServer.push(Buffer.from(d))
      upstream.write(d)
    })
    upstream.on("data", (d) => {
      rec.fromServer.push(Buffer.from(d))
      client.write(d)
    })
    client.on("close", () => upstream.end())
    upstream.on("close", () => client.end())
    client.on("error", () => upstream.destroy())
    upstream.on("error", () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as Net.AddressInfo).port
  return {
    port,
    take: async () => {
      await new Promise((r) => setTimeout(r, 200))
      return connections.splice(0)
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}
