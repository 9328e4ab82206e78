/**
 * vscode-jsonrpc over a WebSocket (the `ws` package, either end): one frame (../wire.ts)
 * per binary message. The engine's server and the extension's remote client both use it.
 */
import type WebSocket from 'ws';
import {
  AbstractMessageReader,
  AbstractMessageWriter,
  DataCallback,
  Disposable,
  Message,
  MessageReader,
  MessageWriter,
} from 'vscode-jsonrpc';
import { decodeFrame, encodeFrame } from '../wire';

class WsReader extends AbstractMessageReader implements MessageReader {
  constructor(private readonly ws: WebSocket) {
    super();
    ws.on('close', () => this.fireClose());
    ws.on('error', (e) => this.fireError(e));
  }

  listen(callback: DataCallback): Disposable {
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
      try {
        if (!isBinary) throw new Error('text message on a binary channel');
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        callback(decodeFrame(bytes) as Message);
      } catch (e) {
        this.fireError(e);
      }
    };
    this.ws.on('message', onMessage);
    return { dispose: () => this.ws.off('message', onMessage) };
  }
}

class WsWriter extends AbstractMessageWriter implements MessageWriter {
  constructor(private readonly ws: WebSocket) {
    super();
  }

  write(msg: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.send(encodeFrame(msg), { binary: true }, (e) => {
        if (e) {
          this.fireError([e, msg, undefined]);
          reject(e);
        } else resolve();
      });
    });
  }

  end(): void {
    this.ws.close();
  }
}

export function wsTransport(ws: WebSocket): { reader: MessageReader; writer: MessageWriter } {
  return { reader: new WsReader(ws), writer: new WsWriter(ws) };
}
