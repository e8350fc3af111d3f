/**
 * Fastify compiles every route's JSON schemas when an app is built (Ajv validators for what comes in,
 * fast-json-stringify serializers for what goes out): most of the CPU of starting a panel or a twin. Apps built with
 * the same SchemaCompilers reuse what was compiled for a schema of the same content under the same external schemas
 * and options — what every printer of a fleet in one process shares (the firmware's code), never a printer's state:
 * the compiled functions keep nothing of a request (Fastify calls them from every request of an app already).
 * Without one, each app compiles its own, as Fastify does by default.
 *
 * The compilers are Fastify's own (@fastify/ajv-compiler, @fastify/fast-json-stringify-compiler), installed with it.
 */
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';
import { SerializerSelector, type SerializerFactory } from '@fastify/fast-json-stringify-compiler';

/** Fastify's `schemaController.compilersFactory`. */
export interface SchemaCompilers {
  buildValidator: ValidatorFactory;
  buildSerializer: SerializerFactory;
}

export function createSchemaCompilers(): SchemaCompilers {
  // Fastify's validator factory already keeps one Ajv per external schemas + options, but a schema is compiled
  // again for every app, as is every serializer: the map below keeps the compiled functions.
  const validators = AjvCompiler();
  const serializers = SerializerSelector();
  const compiled = new Map<string, unknown>();
  const reuse =
    <R extends { schema?: unknown }, F>(context: string, compile: (route: R) => F) =>
    (route: R): F => {
      const key = `${context}\0${JSON.stringify(route.schema)}`;
      if (!compiled.has(key)) compiled.set(key, compile(route));
      return compiled.get(key) as F;
    };
  return {
    buildValidator: (externalSchemas, options) =>
      reuse(`validator\0${JSON.stringify(externalSchemas)}\0${JSON.stringify(options)}`, validators(externalSchemas, options)),
    buildSerializer: (externalSchemas, options) =>
      reuse(`serializer\0${JSON.stringify(externalSchemas)}\0${JSON.stringify(options ?? {})}`, serializers(externalSchemas, options)),
  };
}
