import type { MessageClass } from '../../message.ts';

/** One language version of a template's text. */
export interface TemplateVariant {
  /** BCP 47, e.g. `en`, `pt-BR`, `zh-CN`. */
  locale: string;
  /** The text, with `{{name}}` where a variable goes. */
  body: string;
}

/** A tenant's message template (core/template.ts renders it; /v1/templates manages it). */
export interface TemplateRecord {
  tenantId: string;
  id: string;
  name: string;
  /** The class every message sent by it has; marketing needs an opt-out instruction in each variant. */
  messageClass: MessageClass;
  /** The variant used when a message names no locale or one the template lacks. */
  defaultLocale: string;
  variants: TemplateVariant[];
  /** The variables every variant uses, sorted. */
  variables: string[];
  createdAt: number;
  updatedAt: number;
}

/** The per-tenant message templates. */
export interface TemplateStore {
  /** The tenant's templates, ordered by id (creation order). */
  listTemplates(tenantId: string): Promise<TemplateRecord[]>;
  getTemplate(tenantId: string, id: string): Promise<TemplateRecord | undefined>;
  /** Inserts or replaces one template of a tenant; a replacement keeps its `createdAt`. */
  putTemplate(record: TemplateRecord): Promise<void>;
  /** Removes one template; false when the tenant had no such template. */
  deleteTemplate(tenantId: string, id: string): Promise<boolean>;
}
