// What the dataset's model needs at run time (its tokenizer and template loading, the model checks, the
// record views), loaded on first use like the language library (../languageLoader.ts): the tokenizer
// and the Jinja interpreter stay out of activation.
export * from './datasetModel';
export * from './modelChecks';
export * from './modelView';
