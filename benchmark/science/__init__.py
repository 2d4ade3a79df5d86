"""The science: which parameters a split withholds (`splitter`), how an
adversary retrains them (`procedures`), what a curve's hardness is
(`hardness`, `statistics`) and the rules a published number obeys
(`protocol`). Pure functions over data: no files, no compiled programs."""
