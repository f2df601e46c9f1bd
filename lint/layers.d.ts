import type { ESLint, Rule } from 'eslint';
export declare const LAYERS: Readonly<Record<string, readonly string[]>>;
export declare const layersRule: Rule.RuleModule;
declare const plugin: ESLint.Plugin;
export default plugin;
