// Sensitive locations: the catalogue (catalogue.json + config), the path
// classifier and the consumer check. See ./catalogue.ts for the config shape.
//
// Wiring (not done here; see the issue-12 report):
//   - config: sensor/agents/config.ts accepts a `sensitive:` key and calls
//     parseSensitiveSection(doc.toJS().sensitive, file, { locate }) for the
//     classes; `new PathClassifier(classes)` once per config;
//   - per open event of an agent: classifier.classify(event.path, { home:
//     userHomes.homeOf(event.uid), pid, cwd }) (~2-3 µs) -> store the class names with the event, under the
//     chain; `sensor query --sensitive [CLASS]` filters on them;
//   - detectors: SensitiveMatch.alertOnRead for single-read rules,
//     isConsumer(classifier.classOf(name), { exe, argv }) to excuse a
//     credential's own consumer.
export { builtInClasses, parseSensitiveSection, sensitiveSectionSchema, SensitiveConfigError, type SensitiveClass, type SensitiveSection, type ParseOptions } from './catalogue.js';
export { classifyPath, PathClassifier, type PathContext, type SensitiveMatch } from './classify-path.js';
export { isConsumer, type ProcessIdentity } from './consumers.js';
export { parsePasswd, UserHomes } from './user-homes.js';
