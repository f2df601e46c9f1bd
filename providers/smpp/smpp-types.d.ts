// The `smpp` package (0.5.1) ships no types. This declares only what Pigeon uses, narrowly, so a
// wrong field name is a compile error rather than a silently ignored PDU parameter.
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  namespace smpp {
    /** A decoded PDU: header fields plus the command's parameters and TLVs by their spec names. */
    interface PDU {
      command: string;
      command_id: number;
      command_status: number;
      sequence_number: number;
      [field: string]: unknown;
      isResponse(): boolean;
      response(options?: Record<string, unknown>): PDU;
      toBuffer(): Buffer;
    }

    type PduCallback = (pdu: PDU) => void;

    interface Session extends EventEmitter {
      readonly socket: Socket;
      /** Writes the PDU; false when the socket is no longer writable (nothing was written). */
      send(pdu: PDU, responseCallback?: PduCallback, sendCallback?: PduCallback): boolean;
      bind_transceiver(options: Record<string, unknown>, responseCallback?: PduCallback): boolean;
      submit_sm(options: Record<string, unknown>, responseCallback?: PduCallback): boolean;
      deliver_sm(options: Record<string, unknown>, responseCallback?: PduCallback): boolean;
      enquire_link(options: Record<string, unknown>, responseCallback?: PduCallback): boolean;
      unbind(options: Record<string, unknown>, responseCallback?: PduCallback): boolean;
      close(callback?: () => void): void;
      destroy(callback?: () => void): void;
      pause(): void;
      resume(): void;
    }

    interface Server extends NetServer {
      readonly sessions: Session[];
    }

    interface ConnectOptions {
      host: string;
      port: number;
      tls?: boolean;
      ca?: string;
      rejectUnauthorized?: boolean;
      servername?: string;
    }

    interface Encoder {
      encode(value: string): Buffer;
      decode(value: Buffer): string;
    }

    interface PduConstructor {
      new (command: string, options?: Record<string, unknown>): PDU;
      /** Decodes one whole PDU from the wire; false when the buffer holds less than one. */
      fromBuffer(buffer: Buffer): PDU | false;
    }
  }

  const smpp: {
    connect(options: smpp.ConnectOptions, listener?: () => void): smpp.Session;
    createServer(options: Record<string, unknown>, listener?: (session: smpp.Session) => void): smpp.Server;
    PDU: smpp.PduConstructor;
    /** GSM 03.38 (`ASCII`, one septet per octet, escapes included), `UCS2`, `LATIN1`, … */
    encodings: Record<'ASCII' | 'UCS2' | 'LATIN1', smpp.Encoder>;
  };
  export = smpp;
}
