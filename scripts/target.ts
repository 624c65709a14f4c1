/**
 * `npm run target`: start the private tgtd with the standard targets, print its info as JSON, and
 * keep it running until Ctrl-C (or SIGTERM), then stop it. For development by hand.
 */
import { Tgt } from "@effect-iscsi/testing"

const instance = await Tgt.start()
console.log(JSON.stringify(instance.info, null, 2))
const stop = () => {
  void instance.stop().then(() => process.exit(0))
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
setInterval(() => {}, 1 << 30)
