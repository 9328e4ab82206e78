/**
 * vscode-jsonrpc over a pair of byte streams (the engine's stdio, either end), one Content-Length
 * framed message per frame (../wire.ts). The engine's server and the extension's local
 * client both use it.
 */
import { MessageReader, MessageWriter, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { frameCodec } from '../wire';

export function streamTransport(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): { reader: MessageReader; writer: MessageWriter } {
  const reader = new StreamMessageReader(input, { contentTypeDecoder: frameCodec as never });
  // Off: vscode-jsonrpc's partial-message timer (a trace hint every 10 s while a frame is incomplete)
  // re-arms itself and outlives dispose(), so a peer killed mid-frame kept this process alive for ever.
  reader.partialMessageTimeout = 0;
  return { reader, writer: new StreamMessageWriter(output, { contentTypeEncoder: frameCodec as never }) };
}
