// The operator socket: heartbeats keep presence alive; it reconnects with back-off.

const HEARTBEAT_MS = 10000;

export class OperatorSocket {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.ws = null;
    this.wanted = false;
    this.retry = 0;
    this.timer = null;
    this.beat = null;
  }

  open() {
    this.wanted = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/operator`);
    this.ws = ws;
    this.onState("connecting");
    ws.addEventListener("open", () => {
      this.retry = 0;
      this.beat = setInterval(() => this.send({ type: "heartbeat" }), HEARTBEAT_MS);
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "ready") this.onState("open");
      this.onEvent(frame);
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.beat);
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === 4401) {
        this.wanted = false;
        this.onState("unauthorized");
        return;
      }
      if (!this.wanted) {
        this.onState("closed");
        return;
      }
      this.onState("lost");
      this.retry = Math.min(this.retry + 1, 6);
      this.timer = setTimeout(() => this.wanted && this.open(), 500 * 2 ** (this.retry - 1));
    });
  }

  close() {
    this.wanted = false;
    clearTimeout(this.timer);
    clearInterval(this.beat);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "operator went offline");
    this.onState("closed");
  }

  get isOpen() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
